"""A table of bad inputs to public functions: each raises ValueError/TypeError whose message
names the argument (or shape) at fault - never a silent wrong answer or a NaN later."""
from __future__ import annotations

import numpy as np
import pytest

import matplotlib.pyplot as plt

from coursekit import datasets, dropout, gradcheck, losses, optim, plots, regularization, training
from coursekit.batchnorm import (BatchNorm1d, BatchNorm2d, batchnorm_eval_forward, batchnorm_forward,
                                 update_running_stats)
from coursekit.conv import conv_output_size
from coursekit.early_stopping import (EarlyStopping, early_stopping_step, is_improvement, restore_best_weights,
                                      save_best_weights)
from coursekit.layers import Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D, ReLU, Sigmoid, Tanh, sigmoid
from coursekit.model import Sequential
from coursekit.training import History

RNG = np.random.default_rng(0)
X2 = np.ones((4, 3), dtype=np.float32)
X4 = np.ones((2, 3, 5, 5), dtype=np.float32)
NAN2 = np.array([[np.nan, 1.0, 2.0]] * 4)
EMPTY2 = np.zeros((0, 3), dtype=np.float32)


def _model():
    return Sequential(Dense(3, 1, rng=np.random.default_rng(0)))


def _history():
    h = History()
    for loss, val_loss in [(1.0, 1.1), (0.6, 0.7), (0.3, 0.9)]:
        h.append({"loss": loss, "val_loss": val_loss, "accuracy": 0.5, "val_accuracy": 0.5})
    return h


class _Diag:
    """A model whose logit is x1 - x2 (times ``scale``)."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def predict(self, x):
        return (x[:, :1] - x[:, 1:]) * self.scale


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fit(**overrides):
    model = _model()
    kwargs = dict(model=model, loss_fn=losses.binary_cross_entropy_with_logits,
                  optimizer=optim.SGD(model.parameters(), lr=0.1), X=X2, y=np.zeros(4), epochs=1, batch_size=2,
                  rng=np.random.default_rng(0), progress=False)
    kwargs.update(overrides)
    return training.fit(**kwargs)


# (id, callable, expected exception, regex the message must contain)
CASES = [
    # layers: wrong rank, wrong feature/channel count, wrong dtype, wrong types, empty batch
    ("Dense rank", lambda: Dense(3, 2, rng=RNG).forward(np.ones((4, 3, 1), np.float32), training=True),
     ValueError, r"x must be 2-D.*\(4, 3, 1\)"),
    ("Dense features", lambda: Dense(3, 2, rng=RNG).forward(np.ones((4, 5), np.float32), training=True),
     ValueError, r"in_features=3.*\(4, 5\)"),
    ("Dense int dtype", lambda: Dense(3, 2, rng=RNG).forward(np.ones((4, 3), dtype=int), training=True),
     TypeError, r"x must have a floating dtype.*int64"),
    ("Dense list input", lambda: Dense(3, 2, rng=RNG).forward([[1.0, 2.0, 3.0]], training=True),
     TypeError, r"x must be a numpy array.*list"),
    ("Dense empty batch", lambda: Dense(3, 2, rng=RNG).forward(EMPTY2, training=True), ValueError, r"x is empty"),
    ("Dense rng is a seed", lambda: Dense(3, 2, rng=42), TypeError, r"rng must be a numpy random Generator.*42"),
    ("Dense zero features", lambda: Dense(0, 2, rng=RNG), ValueError, r"in_features must be an integer >= 1, got 0"),
    ("Dense float features", lambda: Dense(2.5, 2, rng=RNG), TypeError, r"in_features must be an integer.*2.5"),
    ("Dense backward first", lambda: Dense(3, 2, rng=RNG).backward(np.ones((4, 2))), RuntimeError, r"before forward"),
    ("ReLU dout shape", lambda: (lambda l: (l.forward(X2, training=True), l.backward(np.ones((4, 4)))))(ReLU()),
     ValueError, r"dout must have the shape.*\(4, 3\).*\(4, 4\)"),
    ("Sigmoid string", lambda: Sigmoid().forward("x", training=True), TypeError, r"x must be a numpy array"),
    ("Tanh empty", lambda: Tanh().forward(np.zeros((0,)), training=True), ValueError, r"x is empty"),
    ("Conv2D rank", lambda: Conv2D(3, 4, 3, rng=RNG).forward(X2, training=True), ValueError, r"x must be 4-D images \(N, C, H, W\).*\(4, 3\)"),
    ("Conv2D channels", lambda: Conv2D(2, 4, 3, rng=RNG).forward(X4, training=True), ValueError, r"x has 3 channels.*expects 2"),
    ("Conv2D kernel too big", lambda: Conv2D(3, 4, 7, rng=RNG).forward(X4, training=True), ValueError,
     r"kernel \(7, 7\) is larger than the padded input \(5, 5\)"),
    ("MaxPool2D rank", lambda: MaxPool2D(2).forward(X2, training=True), ValueError, r"x must be 4-D.*\(4, 3\)"),
    ("Flatten rank", lambda: Flatten().forward(np.ones(3, np.float32), training=True), ValueError, r"x must have a batch axis.*\(3,\)"),
    # training must be a bool: the string "False" is truthy and would switch dropout on
    ("Dense training string", lambda: Dense(3, 2, rng=RNG).forward(X2, training="False"), TypeError,
     r"Dense.forward: training must be True or False, got 'False'.*write training=False"),
    ("ReLU training None", lambda: ReLU().forward(X2, training=None), TypeError, r"training must be True or False.*None"),
    ("Sequential training int", lambda: _model().forward(X2, training=1), TypeError,
     r"Sequential.forward: training must be True or False, got 1 of type int"),
    ("Conv2D training", lambda: Conv2D(3, 4, 3, rng=RNG).forward(X4, training="yes"), TypeError, r"Conv2D.forward: training"),
    ("MaxPool2D training", lambda: MaxPool2D(2).forward(X4, training=0.0), TypeError, r"MaxPool2D.forward: training"),
    ("GlobalAvgPool2D training", lambda: GlobalAvgPool2D().forward(X4, training=[]), TypeError,
     r"GlobalAvgPool2D.forward: training"),
    ("Flatten training", lambda: Flatten().forward(X4, training="True"), TypeError, r"write training=True"),
    ("dropout training string", lambda: dropout.dropout_forward(X2, 0.5, rng=RNG, training="False"), TypeError,
     r"dropout_forward: training must be True or False"),
    ("Dropout layer training", lambda: dropout.Dropout(0.5, rng=RNG).forward(X2, training="False"), TypeError,
     r"training must be True or False"),
    ("spatial dropout training", lambda: dropout.spatial_dropout_forward(X4, 0.5, rng=RNG, training=None),
     TypeError, r"spatial_dropout_forward: training must be True or False"),
    ("BN training string", lambda: BatchNorm1d(3).forward(X2, training="False"), TypeError,
     r"BatchNorm1d.forward: training must be True or False"),
    ("BN2d training", lambda: BatchNorm2d(3).forward(X4, training=2), TypeError, r"BatchNorm2d.forward: training"),
    ("GlobalAvgPool2D rank", lambda: GlobalAvgPool2D().forward(X2, training=True), ValueError,
     r"x must be 4-D feature maps.*\(4, 3\)"),
    # losses: non-finite, labels out of range, shapes
    ("BCE NaN logits", lambda: losses.binary_cross_entropy_with_logits(NAN2[:, :1], np.zeros((4, 1))),
     ValueError, r"logits contains 4 non-finite"),
    ("BCE target range", lambda: losses.binary_cross_entropy_with_logits(np.zeros(3), np.array([0, 1, 2])),
     ValueError, r"targets must be finite values in \[0, 1\].*2"),
    ("BCE shapes", lambda: losses.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(4)), ValueError,
     r"targets must have the shape of logits \(3,\).*\(4,\)"),
    ("BCE many columns", lambda: losses.binary_cross_entropy_with_logits(np.zeros((3, 2)), np.zeros((3, 2))),
     ValueError, r"softmax_cross_entropy"),
    ("softmax labels range", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])),
     ValueError, r"labels must be class indices in \[0, 3\)"),
    ("softmax negative label", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([-1, 0])),
     ValueError, r"labels must be class indices"),
    ("softmax float labels", lambda: losses.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.5, 1.0])),
     TypeError, r"labels must be integer class indices"),
    ("softmax inf logits", lambda: losses.softmax_cross_entropy(np.array([[np.inf, 0.0]]), np.array([0])),
     ValueError, r"logits contains 1 non-finite"),
    ("softmax rank", lambda: losses.softmax_cross_entropy(np.zeros(3), np.array([0])), ValueError,
     r"logits must be 2-D"),
    # optimizers
    ("SGD lr 0", lambda: optim.SGD(_model().parameters(), lr=0), ValueError, r"lr must be > 0.*0"),
    ("SGD lr negative", lambda: optim.SGD(_model().parameters(), lr=-0.1), ValueError, r"lr must be > 0"),
    ("SGD lr NaN", lambda: optim.SGD(_model().parameters(), lr=float("nan")), ValueError, r"lr must be a finite"),
    ("SGD momentum 1", lambda: optim.SGD(_model().parameters(), lr=0.1, momentum=1.0), ValueError, r"momentum"),
    ("Adam betas", lambda: optim.Adam(_model().parameters(), lr=0.1, betas=(0.9,)), TypeError, r"betas"),
    ("AdamW negative decay", lambda: optim.AdamW(_model().parameters(), lr=0.1, weight_decay=-1), ValueError,
     r"weight_decay must be >= 0"),
    ("optimizer params", lambda: optim.SGD([np.zeros(3)], lr=0.1), TypeError, r"model.parameters\(\)"),
    ("optimizer no params", lambda: optim.SGD([], lr=0.1), ValueError, r"params is empty"),
    # fit
    ("fit batch_size 0", lambda: _fit(batch_size=0), ValueError, r"batch_size must be an integer >= 1, got 0"),
    ("fit epochs -1", lambda: _fit(epochs=-1), ValueError, r"epochs must be an integer >= 1, got -1"),
    ("fit rng seed", lambda: _fit(rng=0), TypeError, r"rng must be a numpy random Generator"),
    ("fit lengths", lambda: _fit(y=np.zeros(5)), ValueError, r"y has 5 rows but X has 4"),
    # regression: NaN in X was reported as "training diverged, try a smaller learning rate"
    ("fit NaN data", lambda: _fit(X=NAN2.astype(np.float32)), ValueError,
     r"^fit: X contains 4 non-finite value\(s\) \(NaN or inf\)"),
    ("fit validation pair", lambda: _fit(validation_data=X2), TypeError, r"validation_data must be a pair"),
    ("fit on_nan", lambda: _fit(on_nan="ignore"), ValueError, r"on_nan must be 'raise' or 'stop'.*ignore"),
    # gradcheck
    ("numerical_gradient f", lambda: gradcheck.numerical_gradient(3, np.zeros(2)), TypeError, r"f must be callable"),
    ("numerical_gradient h", lambda: gradcheck.numerical_gradient(np.sum, np.zeros(2), h=0), ValueError,
     r"h must be > 0"),
    ("check_layer float32", lambda: gradcheck.check_layer_gradients(ReLU(), X2, rng=RNG), TypeError, r"float64"),
    ("rel_error shapes", lambda: gradcheck.rel_error(np.zeros(2), np.zeros(3)), ValueError, r"shapes differ"),
    # dropout
    ("dropout drop_prob 1.5", lambda: dropout.dropout_forward(X2, 1.5, rng=RNG, training=True), ValueError,
     r"drop_prob must be in \[0.0, 1.0\], got 1.5"),
    ("dropout drop_prob NaN", lambda: dropout.dropout_forward(X2, float("nan"), rng=RNG, training=True),
     ValueError, r"drop_prob must be a finite number"),
    ("dropout rng None", lambda: dropout.dropout_forward(X2, 0.5, rng=None, training=True), TypeError,
     r"rng must be a numpy random Generator.*None"),
    ("Dropout layer prob", lambda: dropout.Dropout(-0.1, rng=RNG), ValueError, r"drop_prob.*-0.1"),
    ("spatial dropout rank", lambda: dropout.spatial_dropout_forward(X2, 0.5, rng=RNG, training=True),
     ValueError, r"\(N, C, H, W\).*\(4, 3\)"),
    ("dropout_backward mask", lambda: dropout.dropout_backward(X2, np.ones((5, 3))), ValueError,
     r"mask of shape \(5, 3\) does not fit dout of shape \(4, 3\)"),
    # batch norm
    ("BN one value per channel", lambda: BatchNorm1d(3).forward(np.ones((1, 3), np.float32), training=True),
     ValueError, r"more than 1 value per channel.*\(1, 3\)"),
    ("BN features", lambda: BatchNorm1d(4).forward(X2, training=True), ValueError, r"num_features=4.*\(4, 3\)"),
    ("BN2d rank", lambda: BatchNorm2d(3).forward(X2, training=True), ValueError, r"x must be 4-D.*\(4, 3\)"),
    ("BN eps", lambda: BatchNorm1d(3, eps=0), ValueError, r"eps must be > 0.0, got 0.0"),
    ("BN momentum", lambda: BatchNorm1d(3, momentum=1.5), ValueError, r"momentum.*1.5"),
    ("BN gamma shape", lambda: batchnorm_forward(X2, np.ones(2), np.zeros(3)), ValueError, r"gamma must have shape \(3,\).*\(2,\)"),
    # regularization
    ("l2 negative lambd", lambda: regularization.l2_penalty([np.ones((2, 2))], -1.0, 10), ValueError, r"lambd must be >= 0.0, got -1.0"),
    ("l2 inf lambd", lambda: regularization.l2_grad(np.ones((2, 2)), float("inf"), 10), ValueError, r"lambd must be a finite number, got inf"),
    ("l2 m zero", lambda: regularization.l2_penalty([np.ones((2, 2))], 1.0, 0), ValueError, r"m must be > 0.0, got 0.0"),
    ("l1 weights not arrays", lambda: regularization.l1_penalty([[1.0, 2.0]], 1.0, 10), TypeError, r"weights\[0\] must be a numpy array.*list"),
    ("L2 regularizer lambd", lambda: regularization.L2(-0.5), ValueError, r"lambd must be >= 0.0, got -0.5"),
    # early stopping
    ("ES mode", lambda: EarlyStopping(mode="biggest"), ValueError, r"mode.*biggest"),
    ("ES patience", lambda: EarlyStopping(patience=-1), ValueError, r"patience.*-1"),
    ("ES unknown monitor", lambda: _fit(callbacks=[EarlyStopping(monitor="val_los", mode="min")]), ValueError,
     r"monitor='val_los' is not in the logs.*\['accuracy', 'loss'\]"),
    ("ES monitor auto mode", lambda: EarlyStopping(monitor="val_los"), ValueError, r"monitor='val_los'"),
    # datasets
    ("digits n_train", lambda: datasets.load_digits(n_train=5), ValueError, r"n_train must be an integer >= 10"),
    ("digits too many", lambda: datasets.load_digits(n_train=1500, n_val=400), ValueError, r"n_train \+ n_val"),
    ("data file", lambda: datasets.data_path("missing.csv"), FileNotFoundError, r"missing.csv"),
] + [
    # ---- training= must be a bool everywhere it is taken, and so must every other flag
    ("check_layer_gradients training", lambda: gradcheck.check_layer_gradients(Tanh(), NAN2[:, 1:], rng=RNG,
                                                                               training="False"),
     TypeError, r"check_layer_gradients: training must be True or False, got 'False'"),
    ("SpatialDropout2D training", lambda: dropout.SpatialDropout2D(0.5, rng=RNG).forward(X4, training=1), TypeError,
     r"spatial_dropout_forward: training must be True or False, got 1"),
    ("BN training 0-d array", lambda: BatchNorm1d(3).forward(X2, training=np.array(True)), TypeError,
     r"training must be True or False, got array of shape \(\)"),
    ("fit progress string", lambda: _fit(progress="False"), TypeError,
     r"fit: progress must be True or False, got 'False'"),
    ("ES restore flag string", lambda: EarlyStopping(restore_best_weights="True"), TypeError,
     r"restore_best_weights must be True or False, got 'True'"),
    ("save_best_weights improved", lambda: save_best_weights((np.ones(2),), None, improved="False"), TypeError,
     r"save_best_weights: improved must be True or False, got 'False'"),
    ("restore stopped_early", lambda: restore_best_weights((np.ones(2),), None, stopped_early=None), TypeError,
     r"restore_best_weights: stopped_early must be True or False, got None"),
    ("plot_history mark_best", lambda: plots.plot_history(_history(), mark_best="no"), TypeError,
     r"plot_history: mark_best must be True or False, got 'no'"),
    # ---- accuracy: one-hot, soft, out-of-range and non-finite labels and outputs are errors, not scores
    ("accuracy one-hot", lambda: training.accuracy(np.zeros((3, 2)), np.eye(2)[[0, 1, 1]]), ValueError,
     r"accuracy: y must hold one class label per row.*got shape \(3, 2\); one-hot labels\? pass y.argmax\(axis=1\)"),
    ("accuracy soft labels", lambda: training.accuracy(np.zeros(3), np.array([0.0, 0.7, 1.0])), ValueError,
     r"accuracy: y must hold class labels \(whole numbers.*got 0.7"),
    ("accuracy label 2 for one logit", lambda: training.accuracy(np.zeros(3), np.array([0, 2, 1])), ValueError,
     r"accuracy: y must hold 0 or 1 for one output.*from 0 to 2"),
    ("accuracy label >= C", lambda: training.accuracy(np.zeros((2, 3)), np.array([0, 3])), ValueError,
     r"class indices in \[0, 3\).*from 0 to 3"),
    ("accuracy negative label", lambda: training.accuracy(np.zeros((2, 3)), np.array([-1, 0])), ValueError,
     r"accuracy: y must hold class indices in \[0, 3\)"),
    ("accuracy NaN label", lambda: training.accuracy(np.zeros(2), np.array([np.nan, 1.0])), ValueError,
     r"accuracy: y contains 1 non-finite"),
    ("accuracy string labels", lambda: training.accuracy(np.zeros(2), np.array(["a", "b"])), TypeError,
     r"accuracy: y must hold class labels \(integers\), got dtype <U1"),
    ("accuracy None labels", lambda: training.accuracy(np.zeros(2), None), TypeError,
     r"accuracy: y must be a numpy array of class labels, got None"),
    ("accuracy NaN outputs", lambda: training.accuracy(np.array([np.nan, 1.0]), np.array([0, 1])), ValueError,
     r"accuracy: outputs contains 1 non-finite"),
    ("accuracy int outputs", lambda: training.accuracy(np.array([0, 1]), np.array([0, 1])), TypeError,
     r"accuracy: outputs must have a floating dtype"),
    ("accuracy 3-D outputs", lambda: training.accuracy(np.zeros((2, 3, 1)), np.array([0, 1])), ValueError,
     r"accuracy: outputs must be 1-D or 2-D"),
    ("fit soft targets", lambda: _fit(y=np.array([0.0, 0.3, 1.0, 1.0])), ValueError,
     r"fit: y must hold class labels \(whole numbers.*got 0.3"),
    ("fit y_val one-hot", lambda: _fit(validation_data=(X2, np.eye(2)[[0, 1, 0, 1]])), ValueError,
     r"fit: y_val must hold one class label per row"),
    ("fit label out of range", lambda: _fit(y=np.array([0, 1, 2, 0])), ValueError,
     r"fit: y must hold 0 or 1 for one output \(2 classes\), got labels from 0 to 2"),
    ("evaluate one-hot", lambda: training.evaluate(_model(), losses.binary_cross_entropy_with_logits, X2,
                                                  np.eye(2)[[0, 1, 0, 1]]), ValueError, r"evaluate: y must hold one"),
    # ---- a layer's dtype must be floating: int or bool would truncate the weights
    ("Dense dtype int", lambda: Dense(3, 2, rng=RNG, dtype=int), TypeError,
     r"Dense: dtype must be a floating dtype such as np.float32.*got dtype int64"),
    ("Dense dtype bool", lambda: Dense(3, 2, rng=RNG, dtype=bool), TypeError, r"Dense: dtype must be a floating.*bool"),
    ("Dense dtype None", lambda: Dense(3, 2, rng=RNG, dtype=None), TypeError, r"Dense: dtype must be.*got None"),
    ("Dense dtype complex", lambda: Dense(3, 2, rng=RNG, dtype=np.complex128), TypeError,
     r"Dense: dtype must be a floating dtype.*complex128"),
    ("Dense dtype junk", lambda: Dense(3, 2, rng=RNG, dtype="flaot32"), TypeError, r"Dense: dtype must be.*'flaot32'"),
    ("Conv2D dtype int", lambda: Conv2D(3, 2, 3, rng=RNG, dtype=np.int32), TypeError,
     r"Conv2D: dtype must be a floating dtype.*int32"),
    ("BatchNorm dtype uint8", lambda: BatchNorm2d(3, dtype=np.uint8), TypeError,
     r"BatchNorm2d: dtype must be a floating dtype.*uint8"),
    ("Dense init", lambda: Dense(3, 2, rng=RNG, init=None), TypeError,
     r"Dense: init must be 'he' or 'glorot', got None"),
    # ---- numerical_gradient: float64 only, f returns one finite number
    ("numerical_gradient float32", lambda: gradcheck.numerical_gradient(np.sum, np.ones(3, np.float32)), TypeError,
     r"numerical_gradient: x must be float64.*got dtype float32"),
    ("numerical_gradient vector f", lambda: gradcheck.numerical_gradient(lambda v: v * 2, np.ones(3)), TypeError,
     r"numerical_gradient: f must return one number \(a scalar loss\), got an array of shape \(3,\)"),
    ("numerical_gradient NaN f", lambda: gradcheck.numerical_gradient(lambda v: np.sqrt(v[0]) if v[0] >= 0 else np.nan,
                                                                 np.array([0.0, 1.0])),
     ValueError, r"numerical_gradient: f returned nan at x\[0\] - h"),
    ("numerical_gradient string f", lambda: gradcheck.numerical_gradient(lambda v: "1.0", np.ones(2)), TypeError,
     r"the value returned by f must be a real number, got '1.0'"),
    ("numerical_gradient NaN x", lambda: gradcheck.numerical_gradient(np.sum, np.array([np.nan, 1.0])), ValueError,
     r"numerical_gradient: x contains 1 non-finite"),
    ("numerical_gradient list x", lambda: gradcheck.numerical_gradient(np.sum, [1.0, 2.0]), TypeError,
     r"numerical_gradient: x must be a numpy array"),
    ("check_layer_gradients layer", lambda: gradcheck.check_layer_gradients("Dense", np.ones((2, 2)), rng=RNG),
     TypeError, r"check_layer_gradients: layer must be a layer with forward, backward and a params dict.*'Dense'"),
    ("check_layer_gradients h", lambda: gradcheck.check_layer_gradients(Tanh(), np.ones((2, 2)), rng=RNG, h=-1e-5),
     ValueError, r"h must be > 0.0, got -1e-05"),
    ("rel_error complex", lambda: gradcheck.rel_error(np.ones(2) * 1j, np.ones(2)), TypeError,
     r"rel_error: a must be an array of real numbers, got dtype complex128"),
    ("rel_error None", lambda: gradcheck.rel_error(np.ones(2), None), TypeError, r"rel_error: b must be an array"),
    # ---- conv_output_size never returns a size < 1
    ("conv_output_size kernel too big", lambda: conv_output_size(3, 5), ValueError,
     r"conv_output_size: kernel=5 is larger than the padded input, size \+ 2\*padding = 3 \+ 2\*0 = 3"),
    ("conv_output_size negative padding", lambda: conv_output_size(8, 3, 1, -2), ValueError,
     r"padding must be an integer >= 0, got -2"),
    ("conv_output_size stride 0", lambda: conv_output_size(8, 3, 0), ValueError,
     r"stride must be an integer >= 1, got 0"),
    ("conv_output_size float size", lambda: conv_output_size(8.0, 3), TypeError, r"size must be an integer, got 8.0"),
    ("conv_output_size size 0", lambda: conv_output_size(0, 1), ValueError, r"size must be an integer >= 1, got 0"),
    # ---- running statistics: a variance is never negative
    ("update_running_stats negative batch_var", lambda: update_running_stats(np.zeros(2), np.ones(2), np.zeros(2),
                                                                             np.array([0.5, -0.1]), count=4),
     ValueError, r"update_running_stats: batch_var must be >= 0 \(it is a variance\), got a minimum of -0.1"),
    ("update_running_stats negative running_var", lambda: update_running_stats(np.zeros(2), -np.ones(2), np.zeros(2),
                                                                               np.ones(2), count=4),
     ValueError, r"running_var must be >= 0"),
    ("update_running_stats count 1", lambda: update_running_stats(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2),
                                                                  count=1),
     ValueError, r"count must be an integer >= 2"),
    ("batchnorm_eval_forward negative var", lambda: batchnorm_eval_forward(X2, np.ones(3), np.zeros(3), np.zeros(3),
                                                                           np.array([1.0, -2.0, 1.0])),
     ValueError, r"batchnorm_eval_forward: running_var must be >= 0 \(it is a variance\), got a minimum of -2.0"),
    # ---- the early-stopping helpers of the notebook-04 exercise check their arguments
    ("step negative min_delta", lambda: early_stopping_step(1.0, 0, 0.5, min_delta=-0.01, patience=2, mode="min"),
     ValueError, r"early_stopping_step: min_delta must be >= 0.0, got -0.01"),
    ("step NaN min_delta", lambda: early_stopping_step(1.0, 0, 0.5, min_delta=float("nan"), patience=2, mode="min"),
     ValueError, r"min_delta must be a finite number, got nan"),
    ("step negative patience", lambda: early_stopping_step(1.0, 0, 0.5, min_delta=0.0, patience=-1, mode="min"),
     ValueError, r"patience must be an integer >= 0, got -1"),
    ("step float patience", lambda: early_stopping_step(1.0, 0, 0.5, min_delta=0.0, patience=2.5, mode="min"),
     TypeError, r"patience must be an integer, got 2.5"),
    ("step NaN patience", lambda: early_stopping_step(1.0, 0, 0.5, min_delta=0.0, patience=float("nan"), mode="min"),
     TypeError, r"patience must be an integer, got nan"),
    ("step negative wait", lambda: early_stopping_step(1.0, -1, 0.5, min_delta=0.0, patience=2, mode="min"),
     ValueError, r"wait must be an integer >= 0, got -1"),
    ("step string current", lambda: early_stopping_step(1.0, 0, "0.5", min_delta=0.0, patience=2, mode="min"),
     TypeError, r"early_stopping_step: current must be a real number, got '0.5'"),
    ("step auto mode", lambda: early_stopping_step(1.0, 0, 0.5, min_delta=0.0, patience=2, mode="auto"),
     ValueError, r"mode must be one of 'min', 'max', got 'auto'"),
    ("is_improvement None", lambda: is_improvement(None, 1.0, min_delta=0.0, mode="min"), TypeError,
     r"is_improvement: current must be a real number, got None"),
    ("is_improvement inf min_delta", lambda: is_improvement(0.5, 1.0, min_delta=float("inf"), mode="min"),
     ValueError, r"min_delta must be a finite number, got inf"),
    ("ES negative min_delta", lambda: EarlyStopping(min_delta=-0.1), ValueError, r"min_delta must be >= 0.0, got -0.1"),
    ("save_best_weights shapes", lambda: save_best_weights((np.ones(2),), (np.ones(3),), improved=False), ValueError,
     r"save_best_weights: best_weights\[0\] has shape \(3,\) but params\[0\] has shape \(2,\)"),
    ("restore lengths", lambda: restore_best_weights((np.ones(2), np.ones(1)), (np.ones(2),), stopped_early=True),
     ValueError, r"restore_best_weights: best_weights has 1 arrays but params has 2"),
    ("restore scalar broadcast", lambda: restore_best_weights((np.ones(2),), (np.zeros(()),), stopped_early=True),
     ValueError, r"best_weights\[0\] has shape \(\) but params\[0\] has shape \(2,\)"),
    ("save_best_weights list item", lambda: save_best_weights(([1.0, 2.0],), None, improved=True), TypeError,
     r"save_best_weights: params\[0\] must be a numpy array, got \[1.0, 2.0\]"),
    ("save_best_weights model", lambda: save_best_weights(_model(), None, improved=True), TypeError,
     r"save_best_weights: params must be a tuple of numpy arrays"),
    # ---- log_softmax and sigmoid: numpy arrays of real numbers only
    ("log_softmax list", lambda: losses.log_softmax([[1.0, 2.0]]), TypeError,
     r"log_softmax: logits must be a numpy array"),
    ("log_softmax None", lambda: losses.log_softmax(None), TypeError,
     r"log_softmax: logits must be a numpy array, got None"),
    ("log_softmax bool", lambda: losses.log_softmax(True), TypeError,
     r"log_softmax: logits must be a numpy array, got True"),
    ("log_softmax 1-D", lambda: losses.log_softmax(np.zeros(3)), ValueError, r"log_softmax: logits must be 2-D"),
    ("log_softmax bool array", lambda: losses.log_softmax(np.ones((2, 2), bool)), TypeError,
     r"log_softmax: logits must have a floating dtype"),
    ("log_softmax inf", lambda: losses.log_softmax(np.array([[np.inf, 0.0]])), ValueError,
     r"log_softmax: logits contains 1 non-finite"),
    ("sigmoid list", lambda: sigmoid([0.0, 1.0]), TypeError,
     r"sigmoid: z must be a numpy array of real numbers, got \[0.0, 1.0\] of type list; convert it with np.asarray"),
    ("sigmoid None", lambda: sigmoid(None), TypeError, r"sigmoid: z must be a numpy array of real numbers, got None"),
    ("sigmoid bool", lambda: sigmoid(True), TypeError, r"sigmoid: z must be a numpy array of real numbers, got True"),
    ("sigmoid bool array", lambda: sigmoid(np.array([True, False])), TypeError,
     r"sigmoid: z must have a floating or integer dtype, got dtype bool"),
    ("sigmoid complex", lambda: sigmoid(np.array([1j])), TypeError, r"sigmoid: z must have a floating or integer"),
    ("sigmoid string", lambda: sigmoid("0.5"), TypeError,
     r"sigmoid: z must be a numpy array of real numbers, got '0.5'"),
    # ---- clear messages for the usual slips
    ("SGD(model)", lambda: optim.SGD(_model(), lr=0.1), TypeError,
     r"SGD: params must be the model's parameters, got the model itself \(Sequential\); "
     r"write SGD\(model.parameters\(\)"),
    ("Adam(layer)", lambda: optim.Adam(Dense(2, 2, rng=RNG), lr=0.1), TypeError,
     r"Adam: params must be a list of parameters from model.parameters\(\).*Dense"),
    ("SGD one Parameter", lambda: optim.SGD(_model().parameters()[0], lr=0.1), TypeError,
     r"SGD: params must be a list of parameters.*of type Parameter"),
    ("SGD None", lambda: optim.SGD(None, lr=0.1), TypeError, r"SGD: params must be a list of parameters.*got None"),
    ("SGD duplicate", lambda: optim.SGD(_model().parameters() * 2, lr=0.1), ValueError,
     r"SGD: parameter 0.W appears more than once in params"),
    ("SGD group lr", lambda: optim.SGD([{"params": _model().parameters(), "lr": 0.5}], lr=0.1), ValueError,
     r"SGD: parameter group 0 has unsupported keys \['lr'\]"),
    ("weight_decay_groups model", lambda: optim.weight_decay_groups(_model(), 0.1), TypeError,
     r"weight_decay_groups: params must be the model's parameters, got the model itself"),
    ("weight_decay_groups arrays", lambda: optim.weight_decay_groups([np.ones(2)], 0.1), TypeError,
     r"weight_decay_groups: params must come from model.parameters\(\), got an item of type ndarray"),
    ("callbacks not a list", lambda: _fit(callbacks=EarlyStopping(monitor="loss")), TypeError,
     r"fit: callbacks must be a list of callbacks, got one EarlyStopping; write callbacks=\[EarlyStopping\(...\)\]"),
    ("callbacks class", lambda: _fit(callbacks=[EarlyStopping]), TypeError,
     r"fit: callbacks holds the class EarlyStopping, not a callback"),
    ("optimizer of another model", lambda: _fit(optimizer=optim.SGD(_model().parameters(), lr=0.1)), ValueError,
     r"fit: the optimizer holds parameters that are not this model's \(2 of 2, e.g. 0.W of a Dense\): it was built "
     r"on another model"),
    ("optimizer class", lambda: _fit(optimizer=optim.SGD), TypeError, r"fit: optimizer is the class SGD; create one"),
    ("optimizer missing", lambda: _fit(optimizer=None), TypeError, r"fit: optimizer must have a step\(\) method"),
    ("fit loss_fn string", lambda: _fit(loss_fn="bce"), TypeError, r"fit: loss_fn must be a loss function.*'bce'"),
    ("fit loss_fn returns a float", lambda: _fit(loss_fn=lambda out, y: 0.5), TypeError,
     r"fit: loss_fn must return a pair \(loss, dlogits\).*got 0.5"),
    ("fit model None", lambda: _fit(model=None), TypeError, r"fit: model must have forward\(\)"),
    ("fit NaN X_val", lambda: _fit(validation_data=(NAN2.astype(np.float32), np.zeros(4))), ValueError,
     r"fit: X_val contains 4 non-finite"),
    ("fit X_val columns", lambda: _fit(validation_data=(np.ones((4, 2), np.float32), np.zeros(4))), ValueError,
     r"fit: X_val has rows of shape \(2,\) but X has rows of shape \(3,\)"),
    ("fit regularizer", lambda: _fit(regularizer=0.01), TypeError, r"fit: regularizer must have penalty"),
    ("evaluate NaN X", lambda: training.evaluate(_model(), losses.binary_cross_entropy_with_logits, NAN2,
                                                 np.zeros(4)), ValueError, r"evaluate: X contains 4 non-finite"),
    ("evaluate no predict", lambda: training.evaluate("model", losses.binary_cross_entropy_with_logits, X2,
                                                      np.zeros(4)), TypeError, r"evaluate: model must have a predict"),
    ("spatial_dropout_backward dout rank", lambda: dropout.spatial_dropout_backward(X2, np.ones((4, 3, 1, 1))),
     ValueError, r"spatial_dropout_backward: dout must be 4-D feature maps \(N, C, H, W\), got a 2-D array"),
    ("spatial_dropout_backward dout list", lambda: dropout.spatial_dropout_backward([1.0], None), TypeError,
     r"spatial_dropout_backward: dout must be a numpy array"),
    ("spatial_dropout_backward mask list", lambda: dropout.spatial_dropout_backward(X4, [[1.0]]), TypeError,
     r"spatial_dropout_backward: mask must be a numpy array"),
    ("dropout_backward mask broadcast", lambda: dropout.dropout_backward(np.ones(3), np.ones((4, 3))), ValueError,
     r"mask of shape \(4, 3\) does not fit dout of shape \(3,\)"),
    ("dropout_backward negative mask", lambda: dropout.dropout_backward(X2, -np.ones((4, 3))), ValueError,
     r"dropout_backward: mask must hold 0 or 1/keep_prob"),
    ("Sequential class", lambda: Sequential(Dense(3, 2, rng=RNG), ReLU), TypeError,
     r"Sequential: layer 1 is the class ReLU, not a layer; create one with ReLU\(...\)"),
    ("load_state_dict strings", lambda: _model().load_state_dict({"0.W": "w", "0.b": np.zeros(1)}), TypeError,
     r"load_state_dict: 0.W must be a numpy array of real numbers"),
    ("predict 0-d", lambda: _model().predict(np.array(1.0)), ValueError,
     r"Sequential.predict: x must have a batch axis"),
    # ---- plot helpers: empty, missing and all-NaN histories, bad labels
    ("plot_history empty", lambda: plots.plot_history(History()), ValueError,
     r"plot_history: history has no metric 'loss'; it has \[\]"),
    ("plot_history empty curve", lambda: plots.plot_history({"loss": []}), ValueError,
     r"plot_history: history\['loss'\] is empty: train for at least one epoch"),
    ("plot_history missing metric", lambda: plots.plot_history(_history(), metric="acc"), ValueError,
     r"plot_history: history has no metric 'acc'; it has \['accuracy', 'loss', 'val_accuracy', 'val_loss'\]"),
    ("plot_history all-NaN val", lambda: plots.plot_history({"loss": [1.0, 0.5], "val_loss": [np.nan, np.nan]}),
     ValueError, r"plot_history: history\['val_loss'\] is all NaN \(2 epochs\)"),
    ("plot_history lengths", lambda: plots.plot_history({"loss": [1.0, 0.5], "val_loss": [1.0]}), ValueError,
     r"history\['val_loss'\] has 1 epochs but history\['loss'\] has 2"),
    ("plot_history list", lambda: plots.plot_history([1.0, 0.5]), TypeError,
     r"plot_history: history must be a History returned by fit"),
    ("plot_history strings", lambda: plots.plot_history({"loss": ["a", "b"]}), TypeError,
     r"plot_history: history\['loss'\] must be real numbers"),
    ("plot_early_stopping empty", lambda: plots.plot_early_stopping(History(), {"p": (None, 0)}), ValueError,
     r"plot_early_stopping: history has no metric 'loss'"),
    ("plot_early_stopping all-NaN", lambda: plots.plot_early_stopping({"loss": [1.0], "val_loss": [np.nan]},
                                                                      {"p": (None, 0)}),
     ValueError, r"plot_early_stopping: history\['val_loss'\] is all NaN"),
    ("plot_early_stopping best out of range", lambda: plots.plot_early_stopping(_history(), {"p 5": (None, 3)}),
     ValueError, r"plot_early_stopping: stops\['p 5'\] best_epoch is 3, but the history has only 3 epochs"),
    ("plot_early_stopping stops", lambda: plots.plot_early_stopping(_history(), {}), ValueError,
     r"plot_early_stopping: stops is empty"),
    ("plot_early_stopping pair", lambda: plots.plot_early_stopping(_history(), {"p": 2}), TypeError,
     r"stops\['p'\] must be a pair \(stopped_epoch or None, best_epoch\), got 2"),
    ("plot_dataset labels", lambda: plots.plot_dataset(np.zeros((3, 2)), np.array([0, 1, 2])), ValueError,
     r"plot_dataset: y must hold class labels 0 and 1 .*got 2"),
    ("plot_dataset 3 columns", lambda: plots.plot_dataset(np.zeros((3, 3)), np.array([0, 1, 1])), ValueError,
     r"plot_dataset: X must be points in the plane, shape \(N, 2\), got shape \(3, 3\)"),
    ("plot_decision_boundary model", lambda: plots.plot_decision_boundary(None, np.zeros((2, 2)), np.array([0, 1])),
     TypeError, r"plot_decision_boundary: model must have a predict\(x\) method"),
    ("plot_decision_boundary resolution", lambda: plots.plot_decision_boundary(_Diag(), np.eye(2), np.array([0, 1]),
                                                                               resolution=1),
     ValueError, r"resolution must be an integer >= 2, got 1"),
    ("plot_decision_boundary NaN logits", lambda: plots.plot_decision_boundary(_Diag(np.nan), np.eye(2),
                                                                               np.array([0, 1])),
     ValueError, r"plot_decision_boundary: model.predict returned non-finite logits"),
    ("plot_weight_histograms NaN", lambda: plots.plot_weight_histograms({"a": np.array([np.nan, 1.0])}), ValueError,
     r"plot_weight_histograms: weights_by_name\['a'\] contains 1 non-finite"),
    ("plot_weight_histograms empty", lambda: plots.plot_weight_histograms({}), ValueError,
     r"plot_weight_histograms: weights_by_name is empty"),
    ("plot_validation_curve lengths", lambda: plots.plot_validation_curve([0.1, 1.0], {"val": [1.0]}), ValueError,
     r"plot_validation_curve: scores_by_label\['val'\] has 1 scores for 2 param_values"),
    ("plot_validation_curve log of 0", lambda: plots.plot_validation_curve([0.0, 1.0], {"val": [1.0, 2.0]}),
     ValueError, r"plot_validation_curve: a log x axis needs param_values > 0, got 0.0"),
    ("plot_activation_std zero", lambda: plots.plot_activation_std({"a": [1.0, 0.0]}), ValueError,
     r"plot_activation_std: stds_by_model\['a'\] must be a non-empty list of finite standard deviations > 0"),
    ("plot_activation_histograms NaN", lambda: plots.plot_activation_histograms({"a": [np.array([np.nan])]}),
     ValueError, r"plot_activation_histograms: activations_by_model\['a'\]\[0\] contains 1 non-finite"),
    ("mc_dropout_predict NaN X", lambda: plots.mc_dropout_predict(_model(), NAN2), ValueError,
     r"mc_dropout_predict: X contains 4 non-finite"),
    ("plot_feature_map_rows max_maps", lambda: plots.plot_feature_map_rows({"a": np.ones((2, 3, 3))}, max_maps=0),
     ValueError, r"max_maps must be an integer >= 1, got 0"),
    ("plot ax", lambda: plots.plot_history(_history(), ax="left"), TypeError, r"ax must be a matplotlib Axes"),
]


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_numpy_bools_are_accepted_for_training():
    dense = Dense(3, 2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(dense.forward(X2, training=np.bool_(False)), dense.forward(X2, training=False))
    bn = BatchNorm1d(3)
    bn.forward(np.arange(12, dtype=np.float32).reshape(4, 3), training=np.True_)
    assert not np.array_equal(bn.running_mean, np.zeros(3))  # the numpy True really meant training


def test_a_string_training_flag_changes_no_state():
    bn = BatchNorm1d(3)
    with pytest.raises(TypeError):
        bn.forward(np.arange(12, dtype=np.float32).reshape(4, 3), training="False")
    np.testing.assert_array_equal(bn.running_mean, np.zeros(3))
    np.testing.assert_array_equal(bn.running_var, np.ones(3))


# ----------------------------------------------------------------------------- issue 21's fuzz findings

def test_inputs_are_numpy_arrays_in_evaluate_and_mc_dropout_predict_while_labels_may_be_lists():
    model, bce = _model(), losses.binary_cross_entropy_with_logits
    with pytest.raises(TypeError, match=r"evaluate: X must be a numpy array .*got a list: convert it with "
                                        r"np.asarray\(X, dtype=np.float32\)"):
        training.evaluate(model, bce, X2.tolist(), np.zeros(4))
    with pytest.raises(TypeError, match=r"mc_dropout_predict: X must be a numpy array .*got a tuple: convert it"):
        plots.mc_dropout_predict(model, tuple(X2.tolist()))
    # labels: any array-like, as fit takes them
    assert training.evaluate(model, bce, X2, [0, 0, 0, 0]) == training.evaluate(model, bce, X2, np.zeros(4))


@pytest.mark.parametrize("bad, error, pattern", [
    (3, TypeError, r"data_path: filename must be the name of a data file as a string.*got 3 of type int"),
    (None, TypeError, r"data_path: filename must be .* got None"),
    ("", ValueError, r"data_path: filename must name a file inside the course's data folder"),
    ("../pyproject.toml", ValueError, r"inside the course's data folder.*'../pyproject.toml'"),
])
def test_data_path_names_what_it_needs(bad, error, pattern):
    with pytest.raises(error, match=pattern):
        datasets.data_path(bad)


def test_rel_error_of_none_is_a_type_error_naming_the_argument():
    with pytest.raises(TypeError, match=r"rel_error: a must be an array of real numbers, got None"):
        gradcheck.rel_error(None, np.ones(2))
