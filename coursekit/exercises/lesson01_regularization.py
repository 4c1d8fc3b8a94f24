"""Notebook 01 exercises: the L2 penalty, its gradient, and a Dense backward step with the L2 term."""
from __future__ import annotations

import numpy as np

from ..gradcheck import numerical_gradient, rel_error
from ..regularization import dense_backward_l2, l2_grad, l2_penalty
from ._core import CheckFailed, Mistake, check_cases, modifies_input, register, set_case

# ----------------------------------------------------------------------------- l2_penalty


def _penalty_cases():
    rng = np.random.default_rng(1100)
    cases = [
        # sum of squares 14.25, lambd/(2m) = 1/8: the answer is 1.78125
        ("one 2x2 matrix, lambd=1, m=4", {"weights": [np.array([[1.0, -2.0], [0.5, 3.0]])], "lambd": 1.0, "m": 4}),
        ("two matrices of different shapes, lambd=0.5, m=10",
         {"weights": [np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]]), np.array([[1.5], [-2.5], [0.2]])],
          "lambd": 0.5, "m": 10}),
        ("lambd = 0 (no penalty)", {"weights": [np.array([[2.0, -1.0]])], "lambd": 0.0, "m": 3}),
        ("float32 weights", {"weights": [np.array([[0.25, -0.75], [1.25, 0.5]], dtype=np.float32),
                                         np.array([[-1.0, 2.0]], dtype=np.float32)], "lambd": 0.3, "m": 7}),
    ]
    for i in range(3):
        shapes = [tuple(int(s) for s in rng.integers(1, 6, size=2)) for _ in range(int(rng.integers(1, 4)))]
        cases.append((f"random case {i + 1}: {len(shapes)} matrices of shapes {shapes}",
                      {"weights": [rng.standard_normal(s) for s in shapes],
                       "lambd": float(rng.uniform(0.01, 3.0)), "m": int(rng.integers(3, 200))}))
    return cases


def _check_penalty(fn):
    n = check_cases(fn, l2_penalty, _penalty_cases(), rtol=1e-6, atol=1e-10)
    return f"{n} cases (one or several matrices, lambd = 0, float32) match lambd/(2m) * sum of squared weights."


def _penalty_missing_1_over_m(weights, lambd, m):
    return lambd / 2 * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in weights)


def _penalty_missing_half(weights, lambd, m):
    return lambd / m * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in weights)


def _penalty_abs(weights, lambd, m):
    return lambd / (2 * m) * sum(float(np.sum(np.abs(w), dtype=np.float64)) for w in weights)


def _penalty_norm_not_squared(weights, lambd, m):
    return lambd / (2 * m) * sum(float(np.sqrt(np.sum(np.square(w, dtype=np.float64)))) for w in weights)


def _penalty_mean(weights, lambd, m):
    return lambd / (2 * m) * sum(float(np.mean(np.square(w, dtype=np.float64))) for w in weights)


def _penalty_first_matrix_only(weights, lambd, m):
    return lambd / (2 * m) * float(np.sum(np.square(weights[0], dtype=np.float64)))


def _penalty_squares_in_place(weights, lambd, m):
    for W in weights:
        np.square(W, out=W)  # the model's weights now hold their squares
    return lambd / (2 * m) * sum(float(np.sum(W, dtype=np.float64)) for W in weights)


register(
    "l2_penalty",
    reference=l2_penalty,
    run_checks=_check_penalty,
    mistakes=(
        Mistake("missing_1_over_m", _penalty_missing_1_over_m,
                "The penalty is scaled by lambd / (2m), not lambd / 2: divide by m, the number of examples the "
                "data loss averages over, so lambd means the same thing whatever the batch size."),
        Mistake("missing_half", _penalty_missing_half,
                "Your penalty is twice too big: the L2 term is lambd / (2m) * sum(W**2). The 1/2 is there so "
                "the gradient comes out as (lambd/m) * W."),
        Mistake("abs_instead_of_square", _penalty_abs,
                "That is an L1-style term (sum of |W|). L2 squares every weight: lambd / (2m) * sum(W**2)."),
        Mistake("norm_not_squared", _penalty_norm_not_squared,
                "You used the norm ||W|| itself; the penalty uses its square ||W||^2 = sum(W**2) (no square root)."),
        Mistake("mean_instead_of_sum", _penalty_mean,
                "Sum the squared weights, do not average them: every weight adds its own W**2 to the penalty."),
        Mistake("first_matrix_only", _penalty_first_matrix_only,
                "weights is a list: add up sum(W**2) over every matrix in it, not just the first one."),
        modifies_input(l2_penalty, "weights",
                       "these are the model's own weight matrices (model.weights()): training continues from them, "
                       "so squaring or scaling them in place silently replaces the model's weights",
                       fix="`np.sum(W ** 2)`, which squares into a new array, not `np.square(W, out=W)` or `W **= 2`",
                       implementation=_penalty_squares_in_place, container=True),
    ),
    generic_hint="penalty = lambd / (2 * m) * (sum over the matrices W in weights of np.sum(W ** 2)), returned "
                 "as one number.",
)

# ----------------------------------------------------------------------------- l2_grad


def _grad_cases():
    rng = np.random.default_rng(1200)
    cases = [
        ("W of shape (2, 3), lambd=0.6, m=5",
         {"W": np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -0.25]]), "lambd": 0.6, "m": 5}),
        ("float32 W keeps its dtype", {"W": np.array([[0.5, -1.5], [2.0, 0.25]], dtype=np.float32),
                                       "lambd": 1.5, "m": 8}),
        ("lambd = 0 gives zeros", {"W": np.array([[1.0, -1.0]]), "lambd": 0.0, "m": 4}),
    ]
    for i in range(3):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=2))
        cases.append((f"random case {i + 1}: W of shape {shape}",
                      {"W": rng.standard_normal(shape), "lambd": float(rng.uniform(0.01, 3.0)),
                       "m": int(rng.integers(3, 200))}))
    return cases


def _check_grad(fn):
    n = check_cases(fn, l2_grad, _grad_cases(), rtol=1e-6, atol=1e-12)
    rng = np.random.default_rng(1201)
    W, lambd, m = rng.standard_normal((4, 3)), 0.8, 6
    set_case("gradient check: your gradient against central differences of the penalty")
    got = fn(W=W.copy(), lambd=lambd, m=m)
    numeric = numerical_gradient(lambda v: l2_penalty([v], lambd, m), W.copy())
    err = rel_error(got, numeric)
    if err > 1e-7:
        raise CheckFailed("gradient check", inputs={"W": W, "lambd": lambd, "m": m}, expected=numeric, got=got,
                          reason=f"relative error {err:.1e} against central differences of lambd/(2m)*sum(W**2)")
    return (f"{n} cases match (lambd/m) * W with W's shape and dtype, and it agrees with central differences of "
            f"the penalty (relative error {err:.1e}).")


def _grad_missing_1_over_m(W, lambd, m):
    return lambd * W


def _grad_twice_too_big(W, lambd, m):
    return 2 * lambd / m * W


def _grad_kept_half(W, lambd, m):
    return lambd / (2 * m) * W


def _grad_sign(W, lambd, m):
    return lambd / m * np.sign(W)


def _grad_wrong_sign(W, lambd, m):
    return -lambd / m * W


def _grad_scales_w_in_place(W, lambd, m):
    W *= lambd / m  # returns the right array, but it *is* the layer's weight matrix, now shrunk
    return W


register(
    "l2_grad",
    reference=l2_grad,
    run_checks=_check_grad,
    mistakes=(
        Mistake("missing_1_over_m", _grad_missing_1_over_m,
                "The gradient of lambd/(2m) * sum(W**2) is (lambd/m) * W: you dropped the 1/m."),
        Mistake("missing_half", _grad_twice_too_big,
                "Your gradient is twice too big: d/dW of (1/2) W**2 is W, so with the 1/2 of the penalty the "
                "gradient is (lambd/m) * W, not 2 * (lambd/m) * W."),
        Mistake("kept_half", _grad_kept_half,
                "Your gradient is half the right size: differentiating W**2 gives 2W, which cancels the 1/2 of "
                "the penalty, leaving (lambd/m) * W."),
        Mistake("sign_instead_of_w", _grad_sign,
                "(lambd/m) * sign(W) is the gradient of the L1 penalty |W|. For L2 the gradient is proportional "
                "to W itself: (lambd/m) * W."),
        Mistake("wrong_sign", _grad_wrong_sign,
                "Sign error: the penalty grows with |W|, so its gradient points along W: +(lambd/m) * W. "
                "(Gradient descent then subtracts it, which shrinks the weights.)"),
        modifies_input(l2_grad, "W",
                       "W is the layer's weight matrix: the update W - lr * dW still needs it, and scaling it in "
                       "place shrinks the weights every time the gradient is computed (and makes dW the same array "
                       "as W)",
                       fix="`return lambd / m * W`, not `W *= lambd / m; return W`",
                       implementation=_grad_scales_w_in_place),
    ),
    generic_hint="dPenalty/dW = (lambd / m) * W, an array with W's shape and dtype.",
)

# ----------------------------------------------------------------------------- dense_backward_l2


def _dense_case(rng, n, d_in, d_out, lambd):
    return {"dout": rng.standard_normal((n, d_out)) / n, "x": rng.standard_normal((n, d_in)),
            "W": rng.standard_normal((d_in, d_out)), "b": rng.standard_normal(d_out), "lambd": lambd, "m": n}


def _dense_cases():
    rng = np.random.default_rng(1300)
    cases = [
        ("N=4, D_in=3, D_out=2, lambd=0.5, m=4", _dense_case(rng, 4, 3, 2, 0.5)),
        ("N=5, D_in=2, D_out=3, lambd=2.0, m=5", _dense_case(rng, 5, 2, 3, 2.0)),
        ("lambd = 0 is the plain Dense backward", _dense_case(rng, 3, 4, 2, 0.0)),
    ]
    for i in range(3):
        n, d_in, d_out = (int(v) for v in rng.integers(3, 8, size=3))
        cases.append((f"random case {i + 1}: N={n}, D_in={d_in}, D_out={d_out}",
                      _dense_case(rng, n, d_in, d_out, float(rng.uniform(0.05, 3.0)))))
    return cases


def _check_dense(fn):
    n = check_cases(fn, dense_backward_l2, _dense_cases(), rtol=1e-6, atol=1e-10)
    rng = np.random.default_rng(1301)
    inputs = _dense_case(rng, 4, 3, 2, 0.7)
    dout, lambd, m = inputs["dout"], inputs["lambd"], inputs["m"]
    x, W, b = inputs["x"].copy(), inputs["W"].copy(), inputs["b"].copy()

    def total_loss(x, W, b):
        return float(np.sum((x @ W + b) * dout)) + l2_penalty([W], lambd, m)

    # numerical_gradient's contract: each function computes its value from the array it is given
    partials = (lambda v: total_loss(v, W, b), lambda v: total_loss(x, v, b), lambda v: total_loss(x, W, v))

    set_case("gradient check: dx, dW, db against central differences of the regularized loss")
    got = fn(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()})
    errors = {name: rel_error(g, numerical_gradient(partial, arr.copy()))
              for name, g, partial, arr in zip(("dx", "dW", "db"), got, partials, (x, W, b))}
    worst = max(errors, key=errors.get)
    if errors[worst] > 1e-7:
        raise CheckFailed("gradient check", inputs=inputs, show_values=False,
                          reason=f"{worst} differs from central differences of sum(out * dout) + "
                                 f"lambd/(2m)*sum(W**2) (relative error {errors[worst]:.1e})")
    return (f"{n} cases match the reference, and dx, dW, db agree with central differences of the regularized "
            f"loss (largest relative error {max(errors.values()):.1e}).")


def _dense_plain(dout, x, W, lambd, m):
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def _dense_no_penalty(dout, x, W, b, lambd, m):
    return _dense_plain(dout, x, W, lambd, m)


def _dense_missing_1_over_m(dout, x, W, b, lambd, m):
    dx, dW, db = _dense_plain(dout, x, W, lambd, m)
    return dx, dW + lambd * W, db


def _dense_missing_half(dout, x, W, b, lambd, m):
    dx, dW, db = _dense_plain(dout, x, W, lambd, m)
    return dx, dW + 2 * lambd / m * W, db


def _dense_penalizes_bias(dout, x, W, b, lambd, m):
    dx, dW, db = _dense_plain(dout, x, W, lambd, m)
    return dx, dW + lambd / m * W, db + lambd / m * b


def _dense_abs(dout, x, W, b, lambd, m):
    dx, dW, db = _dense_plain(dout, x, W, lambd, m)
    return dx, dW + lambd / m * np.sign(W), db


def _dense_scales_w_in_place(dout, x, W, b, lambd, m):
    dx = dout @ W.T
    W *= lambd / m  # meant as the penalty's gradient: overwrites the layer's weights
    return dx, x.T @ dout + W, dout.sum(axis=0)


register(
    "dense_backward_l2",
    reference=dense_backward_l2,
    run_checks=_check_dense,
    mistakes=(
        Mistake("no_penalty", _dense_no_penalty,
                "dx and db are right, but dW lacks the penalty's gradient: dW = x.T @ dout + (lambd/m) * W."),
        Mistake("missing_1_over_m", _dense_missing_1_over_m,
                "The penalty's gradient is (lambd/m) * W, not lambd * W: keep the 1/m."),
        Mistake("missing_half", _dense_missing_half,
                "The penalty's part of dW is twice too big: the 1/2 in lambd/(2m)*sum(W**2) cancels the 2 from "
                "differentiating W**2, so add (lambd/m) * W."),
        Mistake("penalizes_biases", _dense_penalizes_bias,
                "Only the weight matrix is penalized: db = dout.sum(axis=0), with no lambd term. Biases only "
                "shift the function; shrinking them does not make it smoother."),
        Mistake("abs_for_l2", _dense_abs,
                "(lambd/m) * sign(W) is the L1 (sub)gradient. The L2 term adds (lambd/m) * W to dW."),
        modifies_input(dense_backward_l2, "W",
                       "W is the layer's weight matrix: the optimizer's step W -= lr * dW comes right after "
                       "backward, and a W scaled by lambd/m in place is no longer the model",
                       fix="`dW = x.T @ dout + (lambd / m) * W`, not `W *= lambd / m`",
                       implementation=_dense_scales_w_in_place),
        modifies_input(dense_backward_l2, "dout",
                       "dout is the upstream gradient: other branches of the network (and the gradient check, "
                       "which calls backward again with the same dout) still read it",
                       fix="`dx = dout @ W.T`, not `dout *= ...`"),
        modifies_input(dense_backward_l2, "x",
                       "x is the layer's cached input: the next backward on the same batch (a gradient check, a "
                       "second loss term) needs it unchanged",
                       fix="`dW = x.T @ dout + ...`, not `x *= ...`"),
        modifies_input(dense_backward_l2, "b",
                       "b is the layer's bias: training continues from it", fix="`db = dout.sum(axis=0)`, not `b -= ...`"),
    ),
    generic_hint="dx = dout @ W.T; dW = x.T @ dout + (lambd/m) * W; db = dout.sum(axis=0). Only dW changes.",
    output_names=("dx", "dW", "db"),
)
