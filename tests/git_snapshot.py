"""A throw-away git repository holding this checkout's working tree, changes included.

The install check installs coursekit from a git URL (as Colab's setup cell does) and the
learner-workflow test clones the course, so both need a repository whose HEAD is the code
under test, uncommitted edits included. The snapshot is a new repository elsewhere: its
index and commit live in its own ``.git``; the checkout's files are only read (git runs
with ``--work-tree`` pointing at the checkout), never modified, and the checkout's own git
state is not touched. What is committed is what ``git add -A`` would take in the checkout:
tracked and untracked files, less what ``.gitignore`` ignores.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Git identity and settings for the snapshot's commits only; nothing global is read or written.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "course tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "course tests", "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
}


def git(*args, cwd: Path | str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run git with the tests' identity; raise with git's own message when it fails."""
    env = {**os.environ, **GIT_ENV}
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    proc = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *map(str, args)],
                          cwd=None if cwd is None else str(cwd), env=env, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(map(str, args))} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc


def snapshot_working_tree(dest: Path, *, source: Path = ROOT, message: str = "snapshot of the working tree") -> Path:
    """A new git repository at ``dest`` whose ``main`` branch holds ``source``'s working tree; returns ``dest``."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"dest must be a new or empty directory, got {dest} (not empty)")
    git("init", "--quiet", dest)
    git_dir = dest / ".git"
    git(f"--git-dir={git_dir}", f"--work-tree={source}", "add", "--all", ".", cwd=source)
    git(f"--git-dir={git_dir}", f"--work-tree={source}", "commit", "--quiet", "--no-verify", "-m", message, cwd=source)
    # Fill the snapshot's own working tree from its commit (the checkout's files were only read).
    git("checkout", "--quiet", "--force", "main", cwd=dest)
    return dest
