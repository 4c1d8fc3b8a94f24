"""Grade learners' notebooks: run each one afresh in a sandbox, and check every exercise in the grader.

    python -m coursekit.grade submissions/ [--timeout 300] [--csv grades.csv] [--details details.csv]
                              [--jobs N] [--learner auto|file|folder] [--save-executed DIR] [--no-sandbox]
                              [--test-seed N]

Arguments are notebooks (``.ipynb``) or folders (searched for ``*.ipynb``, Jupyter's
``.ipynb_checkpoints`` left out, linked folders not followed). Grading runs the learners' code, so it
assumes some of it is hostile. For each submission:

1. **The notebook runs**, top to bottom, in a fresh kernel inside a sandbox of its own
   (``sandbox``: bubblewrap), with a wall-clock limit (``--timeout``, kernel start included) and
   coursekit's progress bars off. A cell that raises does not stop the run; a crash, an endless loop,
   too much output or a file that is not a notebook gets its row with the reason, and the batch goes
   on. This run gives the row's ``outcome`` (and ``--save-executed`` keeps it); it decides no verdict.
2. **Each exercise is checked by the grader itself** (``verdicts``): the learner's code is loaded
   into a second sandboxed process, where coursekit is not on disk, and the course's checker runs in
   the grader's own process, calling the learner's function there through a stand-in (``process``,
   ``wire``). Patching ``check``, its globals or the check log changes nothing; an answer that is, or
   calls, coursekit's solutions fails (the module is not there) and the row says so. A call that
   outlives the check's time limit has its process killed, so a learner's ``except:`` cannot swallow
   the limit. Ctrl-C or SIGTERM stops the batch: the rows graded are written, the running one is
   marked ``stopped by the grader``, and no process is left.

3. **The capstone's open-ended task** (``task``; only with ``--test-seed N``): the configuration the
   learner submitted with ``capstone.submit`` is read from the executed notebook's outputs (plain
   data, never code), checked (``capstone.check_submission``: known techniques in their ranges,
   epochs per run, the budget the notebook reports, the test set never loaded), trained **in the
   grader's own process** on the task's official training images with the seeds
   ``capstone.GRADING_SEEDS``, and tested on ``capstone.TEST_SIZE`` images drawn from N with the
   task's generator: the row's ``test_score``. Keep N to yourself; the same N always gives the same
   score. A missing, malformed or over-budget submission gets no score and the reason.

**What the sandbox guarantees** (Linux, bubblewrap; ``sandbox``'s docstring has the details): the
learner's processes see the system, Python and its packages read-only, and nothing else of the
machine: not your home folder, not the other submissions, not the grader's tables (written only
after every kernel is gone). They get a private, size-limited home and ``/tmp``, no network, an
environment of a few variables, limits on memory per process, processes, file size and open files,
and their own process namespace: every process they start ends with the sandbox, detached or not.
Running as root (CI), the grader gives each sandbox a user id of its own. **What it does not**: it
filters no system calls (a kernel exploit is out of scope), it limits wall-clock time rather than CPU
time, and what is mounted read-only (Python's packages, and, for the notebook's own run, the course's
package with its solutions) can be read there. Without bubblewrap (macOS, Windows, a Linux without
user namespaces) the grader refuses to run unless told ``--no-sandbox``, and then it says what that
exposes: the code runs as you.

**Compared with other graders.** nbgrader (``nbgrader autograde``) runs submissions in kernels as
you, without a sandbox, and its tests run in the learner's kernel (protected from edits by checksums
of read-only cells, not from the learner's code). otter-grader (``otter grade``) runs each submission
in a Docker container of its own, which keeps your machine and the other submissions safe if Docker is
available; its tests run in the submission's own environment. This grader needs only bubblewrap, and
decides verdicts outside the learner's process.

**Who and which lesson** (``submissions``): every notebook inside a learner's folder is that learner's
(``submissions/alice/dropout_final_v2.ipynb`` is alice's); a notebook directly in a folder given here
is named after its file (``submissions/bob.ipynb``); ``--learner file|folder`` forces one rule. The
lesson is the one whose exercises its check cells name (else whose exercise functions it defines,
else the ``NN_`` of its name). An answer is the cell that defines the exercise's function; moved or
deleted cells are reported as such.

**The table** (``--csv``, default ``grades.csv``): one row per submission, columns

* ``learner``, ``lesson`` (``"02"``; empty if unknown), ``submission`` (the path);
* ``outcome``: one of ``OUTCOMES`` and ``reason``: why, in words (which cells raised, where it timed
  out, why the file is not a notebook, and notes: moved cells, an answer that reached for coursekit,
  an answer that passed by calling the course's reference of an earlier exercise: "check it by hand",
  where the notebook's own run said otherwise than the grader);
* ``passed``, ``total`` (the lesson's number of exercises) and ``score`` = passed / total (three
  decimals; empty for a lesson without exercises, a file that could not be run, or a stopped run);
* with ``--test-seed``, ``test_score``: the capstone task's mean test accuracy (three decimals; empty
  when the notebook submitted nothing scorable: ``reason`` says why);
* one column per exercise of the lessons in the batch, in the course's order, holding its ``status``
  (``STATUSES``; empty for an exercise of another lesson);
* ``seconds``: how long the submission took.

``--details`` adds a long table: one row per (submission, exercise) with ``learner``, ``lesson``,
``submission``, ``exercise``, ``status``, ``mistake`` (the catalogue key of the diagnosed mistake) and
``verdict`` (the verdict's first line, or why there is none). A cell a spreadsheet would run as a
formula (``=HYPERLINK(...)``) is written with a leading ``'``.

Outcomes: ``completed``, ``completed with errors`` (some cells raised), ``timed out``, ``crashed``
(the kernel died), ``too much output``, ``malformed`` (not a readable notebook, or a linked file),
``not run`` (no kernel would start), ``stopped by the grader``. Statuses: ``passed``, ``failed``,
``not attempted`` (the stub is still blank), ``not checked`` (no cell defines the function, or its
cell raised before defining it, ran too long or ended its process), ``not reached`` (the grader was
stopped first).

The exit code is 0 whatever the submissions did; 2 when the command is misused or no sandbox can be
made; 128 + the signal's number (130, 143) when stopped.
"""
from .cli import main
from .kernel import KERNEL_NAME
from .report import CSV_COLUMNS, DETAIL_COLUMNS, exercise_columns, summary, write_csv, write_details
from .results import OUTCOMES, STATUSES, Grade, Verdict
from .runner import DEFAULT_TIMEOUT_S, Batch, grade_all, grade_submission
from .sandbox import Bubblewrap, Limits, SandboxUnavailable, Unsandboxed, find_sandbox
from .submissions import (Malformed, collect, find_answers, find_submissions, learner_of, lesson_exercises, lesson_of,
                          read_submission)

__all__ = ["Verdict", "Grade", "OUTCOMES", "STATUSES", "lesson_exercises", "find_submissions", "collect",
           "learner_of", "read_submission", "Malformed", "lesson_of", "find_answers", "grade_submission", "grade_all",
           "Batch", "write_csv", "write_details", "summary", "exercise_columns", "CSV_COLUMNS", "DETAIL_COLUMNS",
           "find_sandbox", "Bubblewrap", "Unsandboxed", "Limits", "SandboxUnavailable", "DEFAULT_TIMEOUT_S",
           "KERNEL_NAME", "main"]
