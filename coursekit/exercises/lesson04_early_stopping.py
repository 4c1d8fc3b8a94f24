"""Notebook 04 exercises: the early-stopping decision and the best-weights bookkeeping."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..early_stopping import early_stopping_step, restore_best_weights, save_best_weights
from ._core import (CheckFailed, Mistake, _copy_inputs, check_cases, compare_outputs, modifies_input, register,
                    set_case)

# ----------------------------------------------------------------------------- early_stopping_step

INF = math.inf


def _case(label, best, wait, current, min_delta, patience, mode):
    return (label, {"best": best, "wait": wait, "current": current, "min_delta": min_delta, "patience": patience,
                    "mode": mode})


# Values are exact binary fractions, so "equal" and "better by exactly min_delta" are exact.
# The order matters: each catalogued mistake must first fail on a case where its output
# differs from the outputs of the mistakes catalogued before it.
_STEP_CASES = [
    _case("min mode: a clear improvement", 0.8, 2, 0.6, 0.0, 3, "min"),
    _case("min mode: worse than the best", 0.5, 0, 0.75, 0.0, 3, "min"),
    _case("min mode: equal to the best", 0.5, 1, 0.5, 0.0, 3, "min"),
    _case("min mode: slightly worse, by less than min_delta", 0.5, 1, 0.53125, 0.0625, 3, "min"),
    _case("min mode: better, but by less than min_delta", 0.5, 1, 0.46875, 0.0625, 3, "min"),
    _case("min mode: better by exactly min_delta", 0.5, 1, 0.25, 0.25, 3, "min"),
    _case("min mode: better by more than min_delta", 0.5, 2, 0.375, 0.0625, 3, "min"),
    _case("patience reached (wait becomes 3, patience 3)", 0.5, 2, 0.75, 0.0, 3, "min"),
    _case("patience not reached yet (wait becomes 2, patience 3)", 0.5, 1, 0.75, 0.0, 3, "min"),
    _case("patience 0 and an improvement", 0.5, 0, 0.25, 0.0, 0, "min"),
    _case("patience 0 and no improvement", 0.5, 0, 0.75, 0.0, 0, "min"),
    _case("first epoch in min mode (best = inf)", INF, 0, 0.7, 0.01, 2, "min"),
    _case("max mode: an improvement by more than min_delta", 0.75, 1, 0.8125, 0.03125, 2, "max"),
    _case("max mode: equal to the best", 0.75, 0, 0.75, 0.0, 2, "max"),
    _case("max mode: better, but by less than min_delta", 0.75, 1, 0.765625, 0.03125, 3, "max"),
    _case("max mode: slightly worse, by less than min_delta", 0.75, 1, 0.7421875, 0.03125, 3, "max"),
    _case("max mode: patience reached", 0.75, 1, 0.5, 0.0, 2, "max"),
    _case("first epoch in max mode (best = -inf)", -INF, 0, 0.5, 0.0, 2, "max"),
    _case("NaN in min mode", 0.5, 0, math.nan, 0.0, 2, "min"),
    _case("NaN at the first epoch (best = inf)", INF, 0, math.nan, 0.0, 2, "min"),
    _case("NaN in max mode", 0.75, 1, math.nan, 0.0, 2, "max"),
]


def _random_step_cases():
    """Replay the reference on random curves and check the learner at every step."""
    rng = np.random.default_rng(4000)
    cases = []
    for k in range(3):
        mode = ("min", "max", "min")[k]
        min_delta = float(rng.choice([0.0, 0.01, 0.05]))
        patience = int(rng.integers(0, 4))
        values = np.round(rng.random(6), 2)
        if k == 2:
            values[3] = np.nan
        best, wait = (INF if mode == "min" else -INF), 0
        for e, current in enumerate(values):
            cases.append(_case(f"random curve {k + 1}, epoch {e} (mode={mode!r})", best, wait, float(current),
                               min_delta, patience, mode))
            best, wait, _, stop = early_stopping_step(best, wait, float(current), min_delta=min_delta,
                                                      patience=patience, mode=mode)
            if stop:
                break
    return cases


# A change of exactly min_delta that float rounding disguises as a bigger one: the textbook test
# current < best - min_delta, best - current > min_delta and Keras's current + min_delta < best call
# these improvements (0.07 - 0.01 = 0.060000000000000005 > 0.06; 0.07 - 0.06 = 0.010000000000000009 >
# 0.01), coursekit's rule forgives the rounding and does not. Both answers are accepted here; a
# learner whose rule differs from coursekit's only on such steps is told so, as information.
_ROUNDING_CASES = [
    _case("min mode: better by exactly min_delta, 0.07 -> 0.06 with min_delta 0.01 (float rounding)",
          0.07, 1, 0.06, 0.01, 3, "min"),
    _case("max mode: better by exactly min_delta, 0.06 -> 0.07 with min_delta 0.01 (float rounding)",
          0.06, 1, 0.07, 0.01, 3, "max"),
    _case("min mode: better by exactly min_delta, 0.4 -> 0.3 with min_delta 0.1 (float rounding)",
          0.4, 0, 0.3, 0.1, 2, "min"),
    _case("max mode: better by exactly min_delta, 0.35 -> 0.45 with min_delta 0.1 (float rounding)",
          0.35, 2, 0.45, 0.1, 2, "max"),
]

_ROUNDING_NOTE = (
    "Information, not a mistake: on {count} step{s} whose change equals min_delta up to float rounding ({example}), "
    "your rule decides {what}, as the textbook test current < best - min_delta and Keras's current + min_delta < "
    "best may in float64, where {why}. coursekit's EarlyStopping forgives the rounding, so that a change of exactly "
    "min_delta never counts as an improvement. Going further: coursekit.early_stopping.is_improvement.")


def _accepted_decisions(inputs) -> set[bool]:
    """Whether the step improves, by each accepted rule: coursekit's, and the textbook and Keras forms in
    float64 and in exact arithmetic. They disagree only where float rounding blurs a change of exactly
    min_delta; in exact binary fractions they all agree."""
    best, current, min_delta, mode = (inputs[k] for k in ("best", "current", "min_delta", "mode"))
    decisions = {_reference_improves(inputs)}
    if math.isnan(best) or math.isnan(current):
        return decisions
    gain = best - current if mode == "min" else current - best
    decisions |= {bool(gain > min_delta),
                  bool(current < best - min_delta) if mode == "min" else bool(current > best + min_delta),
                  bool(current + min_delta < best) if mode == "min" else bool(current - min_delta > best)}
    if math.isfinite(best) and math.isfinite(current):
        exact = Fraction(best) - Fraction(current) if mode == "min" else Fraction(current) - Fraction(best)
        decisions.add(exact > Fraction(min_delta))
    return decisions


def _reference_improves(inputs) -> bool:
    return bool(early_stopping_step(**_copy_inputs(inputs))[2])


def _outcome(inputs, improved: bool) -> tuple:
    """The step's result when it does (or does not) count as an improvement."""
    wait = inputs["wait"] + 1
    if improved:
        return float(inputs["current"]), 0, True, False
    return float(inputs["best"]), wait, False, wait >= inputs["patience"]


def _check_step(fn):
    cases = _STEP_CASES + _random_step_cases() + _ROUNDING_CASES
    passed, rounding = [], []
    for label, inputs in cases:
        set_case(label)
        expected = early_stopping_step(**_copy_inputs(inputs))
        got = fn(**_copy_inputs(inputs))
        why = compare_outputs(expected, got, names=_STEP_NAMES)
        if why is None:
            passed.append((inputs, {"rtol": 1e-6, "atol": 1e-8}))
            continue
        if any(compare_outputs(_outcome(inputs, improved), got, names=_STEP_NAMES) is None
               for improved in _accepted_decisions(inputs) if improved != expected[2]):
            rounding.append(inputs)
            continue
        raise CheckFailed(label, inputs=inputs, expected=expected, got=got, reason=why, tolerance=(1e-6, 1e-8),
                          passed=passed)
    set_case(None)
    summary = (f"{len(cases)} cases match Keras's rule: equal and NaN are no improvement, a change must exceed "
               "min_delta (exactly min_delta does not), wait counts up and stops at wait >= patience, in min and max "
               "mode.")
    if rounding:
        first = rounding[0]
        improved = not _reference_improves(first)
        example = (f"{first['best']:g} -> {first['current']:g} with min_delta {first['min_delta']:g} in "
                   f"{first['mode']} mode")
        b, c, d = first["best"], first["current"], first["min_delta"]
        why = (f"{b:g} - {d:g} = {b - d!r} and {c:g} + {d:g} = {c + d!r}" if first["mode"] == "min" else
               f"{b:g} + {d:g} = {b + d!r} and {c:g} - {d:g} = {c - d!r}")
        summary += "\n   note:     " + _ROUNDING_NOTE.format(
            count=len(rounding), s="" if len(rounding) == 1 else "s", example=example, why=why,
            what="that it improves" if improved else "that it does not improve")
    return summary


_STEP_NAMES = ("best", "wait", "improved", "stop")


def _beats(current, best, min_delta, mode, *, or_equal=False, delta_sign=1.0):
    margin = delta_sign * min_delta
    if mode == "min":
        return current <= best - margin if or_equal else current < best - margin
    return current >= best + margin if or_equal else current > best + margin


def _step_template(better, *, small_change_resets=False, stop_check=lambda wait, patience: wait >= patience,
                   stop_on_improvement=False):
    def step(best, wait, current, *, min_delta, patience, mode):
        wait = wait + 1
        if better(current, best, min_delta, mode):
            if stop_on_improvement:
                return current, 0, True, stop_check(0, patience)
            return current, 0, True, False
        if small_change_resets and better(current, best, 0.0, mode):
            wait = 0
        return best, wait, False, stop_check(wait, patience)
    return step


_step_equal_counts = _step_template(lambda c, b, d, m: _beats(c, b, d, m, or_equal=True))
_step_ignores_min_delta = _step_template(lambda c, b, d, m: _beats(c, b, 0.0, m))
_step_small_change_resets = _step_template(lambda c, b, d, m: _beats(c, b, d, m), small_change_resets=True)
_step_min_delta_backwards = _step_template(lambda c, b, d, m: _beats(c, b, d, m, delta_sign=-1.0))
_step_off_by_one = _step_template(lambda c, b, d, m: _beats(c, b, d, m), stop_check=lambda w, p: w > p)
_step_stops_on_improvement = _step_template(lambda c, b, d, m: _beats(c, b, d, m), stop_on_improvement=True)
_step_always_min = _step_template(lambda c, b, d, m: _beats(c, b, d, "min"))
_step_nan_improves = _step_template(lambda c, b, d, m: not (c >= b - d if m == "min" else c <= b + d))

register(
    "early_stopping_step",
    reference=early_stopping_step,
    run_checks=_check_step,
    mistakes=(
        Mistake("equal_counts_as_improvement", _step_equal_counts,
                "An epoch that only equals the best is not an improvement (Keras compares strictly): use < in min "
                "mode and > in max mode, not <= / >=. Otherwise a flat curve never runs out of patience."),
        Mistake("ignores_min_delta", _step_ignores_min_delta,
                "A change smaller than min_delta must not count: in min mode improve only when "
                "current < best - min_delta (max mode: current > best + min_delta)."),
        Mistake("small_decrease_resets_wait", _step_small_change_resets,
                "Any decrease smaller than min_delta is *no* improvement: it neither replaces best nor resets "
                "wait. Only current < best - min_delta (max mode: current > best + min_delta) resets wait to 0."),
        Mistake("min_delta_wrong_direction", _step_min_delta_backwards,
                "min_delta is a margin the new value must clear, not a tolerance: in min mode the test is "
                "current < best - min_delta (so a slightly *worse* value never counts), in max mode "
                "current > best + min_delta."),
        Mistake("stop_off_by_one", _step_off_by_one,
                "Stop as soon as wait >= patience (wait is incremented first): with patience 3, the third epoch "
                "without improvement stops training. wait > patience waits one epoch too long."),
        Mistake("stops_on_improvement", _step_stops_on_improvement,
                "An epoch that improves never stops training: after best = current and wait = 0, return "
                "stop = False. Checking wait >= patience there stops every run at once when patience is 0."),
        Mistake("ignores_mode", _step_always_min,
                "In max mode (accuracy) bigger is better: improve when current > best + min_delta."),
        Mistake("nan_counts_as_improvement", _step_nan_improves,
                "Every comparison with NaN is False, so a test like `not (current >= best - min_delta)` counts a "
                "NaN as an improvement. Write the improvement condition directly (current < best - min_delta), "
                "so a NaN falls into 'no improvement'."),
    ),
    generic_hint="wait = wait + 1; if current beats best by more than min_delta (min mode: current < best - "
                 "min_delta; max mode: current > best + min_delta): return (current, 0, True, False); "
                 "else return (best, wait, False, wait >= patience).",
    output_names=_STEP_NAMES,
)

# ----------------------------------------------------------------------------- save_best_weights


def _weights(seed: int, shift: float = 0.0) -> tuple:
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal((2, 3)) + shift).astype(np.float32),
            (rng.standard_normal(3) + shift).astype(np.float32))


def _save_cases():
    return [
        ("nothing saved yet and the epoch improved", {"params": _weights(1), "best_weights": None, "improved": True}),
        ("no improvement: keep what was saved", {"params": _weights(2), "best_weights": _weights(3),
                                                 "improved": False}),
        ("an improvement: replace what was saved", {"params": _weights(4), "best_weights": _weights(5),
                                                    "improved": True}),
        ("nothing saved yet and no improvement (a NaN first epoch)", {"params": _weights(6), "best_weights": None,
                                                                      "improved": False}),
    ]


def _check_save(fn):
    n = check_cases(fn, save_best_weights, _save_cases())
    # The optimizer updates the live arrays in place after the save: what was saved must not move.
    params = _weights(7)
    expected = tuple(p.copy() for p in params)
    set_case("save, then the optimizer changes the weights in place (w -= 0.5)")
    got = fn(params=params, best_weights=None, improved=True)
    for p in params:
        p -= 0.5
    why = compare_outputs(expected, got)
    if why:
        raise CheckFailed("save, then the optimizer changes the weights in place (w -= 0.5)",
                          inputs={"params": params, "best_weights": None, "improved": True},
                          expected=expected, got=got,
                          reason="what you saved changed when the optimizer updated the model's arrays in place")
    return (f"{n} cases match (save on improvement or when nothing is saved yet, else keep), and what you save "
            "stays put when the optimizer then updates the weights in place.")


def _save_reference_not_copy(params, best_weights, *, improved):
    if improved or best_weights is None:
        return tuple(params)
    return best_weights


def _save_only_on_improvement(params, best_weights, *, improved):
    if improved:
        return tuple(np.array(p, copy=True) for p in params)
    return best_weights


def _save_writes_back(params, best_weights, *, improved):
    if improved or best_weights is None:
        return tuple(np.array(p, copy=True) for p in params)
    for live, saved in zip(params, best_weights):
        live[...] = saved  # "keep what was saved", written into the model's arrays
    return best_weights


register(
    "save_best_weights",
    reference=save_best_weights,
    run_checks=_check_save,
    mistakes=(
        # Must come first: on the in-place-update case every *copying* answer equals the updated weights.
        Mistake("reference_not_copy", _save_reference_not_copy,
                "You saved references to the model's arrays, and the optimizer updates those same arrays in "
                "place, so your 'best' weights silently follow the model. Save copies: "
                "tuple(p.copy() for p in params). (PyTorch's model.state_dict() returns references too: "
                "use copy.deepcopy(model.state_dict()).)"),
        Mistake("no_first_save", _save_only_on_improvement,
                "When nothing is saved yet (best_weights is None), save the current weights even without an "
                "improvement, as Keras does, so there is always something to restore."),
        modifies_input(save_best_weights, "params",
                       "params are the model's live arrays: training goes on from them after this epoch, and only "
                       "restore_best_weights, at the very end, may write into them",
                       fix="`tuple(p.copy() for p in params)` when saving, and nothing written into params",
                       implementation=_save_writes_back, container=True),
    ),
    # Writing the new snapshot into the arrays saved earlier is fine; the caller replaces them anyway.
    may_modify={"best_weights": lambda arguments: bool(arguments.get("improved"))},
    generic_hint="If improved or best_weights is None: return tuple(p.copy() for p in params); "
                 "otherwise return best_weights unchanged.",
)

# ----------------------------------------------------------------------------- restore_best_weights


def _restore_cases():
    return [
        ("training was stopped early: restore", {"params": _weights(10), "best_weights": _weights(11),
                                                 "stopped_early": True}),
        ("training ran out of epochs: restore anyway", {"params": _weights(12), "best_weights": _weights(13),
                                                        "stopped_early": False}),
        ("nothing was saved: leave the weights as they are", {"params": _weights(14), "best_weights": None,
                                                              "stopped_early": False}),
    ]


def _check_restore(fn):
    for label, inputs in _restore_cases():
        set_case(label)
        expected = restore_best_weights(**_copy_inputs(inputs))
        mine = _copy_inputs(inputs)
        got = fn(**mine)
        why = compare_outputs(expected, got)
        if why:
            raise CheckFailed(label, inputs=inputs, expected=expected, got=got, reason=why)
        for live, want in zip(mine["params"], expected):
            if not np.array_equal(live, want):
                raise CheckFailed(label + " - the model's own arrays", inputs=inputs, expected=expected,
                                  got=mine["params"],
                                  reason="you returned the right values, but the arrays you were given (the "
                                         "model's parameters) still hold the old ones",
                                  hint="Write into the existing arrays, in place: live[...] = saved. "
                                       "Rebinding a name (live = saved) does not change the model.")
    return ("restores in place whether or not training stopped early, and leaves the weights alone when nothing "
            "was saved.")


def _restore_only_when_stopped(params, best_weights, *, stopped_early):
    if stopped_early and best_weights is not None:
        for live, saved in zip(params, best_weights):
            live[...] = saved
    return params


def _restore_swaps(params, best_weights, *, stopped_early):
    if best_weights is not None:
        for live, saved in zip(params, best_weights):
            live[...], saved[...] = saved.copy(), live.copy()  # a swap: the snapshot now holds the last weights
    return params


register(
    "restore_best_weights",
    reference=restore_best_weights,
    run_checks=_check_restore,
    mistakes=(
        Mistake("restore_only_when_stopped_early", _restore_only_when_stopped,
                "Restore whenever weights were saved, also when training ran out of epochs: the last epoch is "
                "rarely the best one. (Keras restores at the end of training either way.)"),
        modifies_input(restore_best_weights, "best_weights",
                       "best_weights is the saved snapshot: the caller may restore it again (say, after evaluating "
                       "the last weights) or compare against it, so only params are written",
                       fix="`live[...] = saved`, reading the snapshot without writing into it",
                       implementation=_restore_swaps, container=True),
    ),
    may_modify={"params": True},  # restoring in place is the exercise
    generic_hint="When something was saved, copy each saved array into the matching live array in place "
                 "(live[...] = saved), whether or not training stopped early; then return params.",
)
