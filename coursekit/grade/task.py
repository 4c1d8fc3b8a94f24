"""The capstone's open-ended task (notebook 08, "Your turn"), scored on the instructor's fresh test set.

``capstone.submit(config)`` displays the learner's final configuration as plain data (output type
``capstone.SUBMISSION_MIME``). After the notebook's sandboxed run, the grader reads the last such
output of the executed notebook (``find_submission``): data only, never code. With ``--test-seed N``
it validates that submission and trains its configuration **here, in the grader's own process**
(``capstone.score_submission``: the official training images, the seeds ``capstone.GRADING_SEEDS``),
then scores it on fresh test images drawn from N, which no learner has seen: the row's
``test_score``. A malformed or over-budget submission gets an empty score and the reason.
"""
from __future__ import annotations

CAPSTONE_LESSON = "08"


def find_submission(nb) -> dict | None:
    """The last capstone submission among the outputs of an executed notebook, or None.

    Outputs are written by learner code: what comes back is unchecked data (``capstone.check_submission``
    checks it).
    """
    from ..capstone import SUBMISSION_MIME

    found = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data") if isinstance(output, dict) else None
            if isinstance(data, dict) and SUBMISSION_MIME in data:
                found = data[SUBMISSION_MIME]
    return found


def score_task(nb, lesson: str | None, test_seed: int | None) -> tuple[float | None, str | None]:
    """``(test score or None, a note for the row's reason or None)`` for one executed notebook."""
    from ..capstone import score_submission

    submission = find_submission(nb)
    if submission is None:
        if lesson == CAPSTONE_LESSON:
            return None, ("capstone task: no submission in the notebook's outputs (it never ran capstone.submit, "
                          "or the run stopped before)")
        return None, None
    if test_seed is None:
        return None, "capstone task: a submission, not scored (give --test-seed to score it on a fresh test set)"
    try:
        return score_submission(submission, test_seed=test_seed), None
    except (TypeError, ValueError) as exc:
        return None, f"capstone task not scored: {str(exc)[:300]}"
    except Exception as exc:  # noqa: BLE001 - whatever the data, the batch goes on
        return None, f"capstone task not scored: the grader failed on it ({type(exc).__name__}: {str(exc)[:200]})"


__all__ = ["CAPSTONE_LESSON", "find_submission", "score_task"]
