"""A table of bad inputs to public functions: each raises ValueError/TypeError whose message
names the argument (or shape) at fault - never a silent wrong answer or a NaN later."""
from __future__ import annotations

import numpy as np
import pytest

from coursekit import datasets, dropout, gradcheck, losses, optim, regularization, training
from coursekit.batchnorm import BatchNorm1d, BatchNorm2d, batchnorm_forward
from coursekit.early_stopping import EarlyStopping
from coursekit.layers import Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D, ReLU, Sigmoid, Tanh
from coursekit.model import Sequential

RNG = np.random.default_rng(0)
X2 = np.ones((4, 3), dtype=np.float32)
X4 = np.ones((2, 3, 5, 5), dtype=np.float32)
NAN2 = np.array([[np.nan, 1.0, 2.0]] * 4)
EMPTY2 = np.zeros((0, 3), dtype=np.float32)


def _model():
    return Sequential(Dense(3, 1, rng=np.random.default_rng(0)))


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
    ("fit NaN data", lambda: _fit(X=NAN2.astype(np.float32)), FloatingPointError, r"epoch 0"),
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
