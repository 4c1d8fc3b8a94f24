"""coursekit: the tested, finished implementations behind the regularization course.

Each lesson's notebook derives a technique, lets you implement it, and then imports the
finished version from here. See the README for the syllabus.
"""
# The course's release: the one place it is named (pyproject.toml reads it; every lesson's setup cell installs
# it, tools/release.py writes them; CHANGELOG.md says what it changed; git tags it vX.Y.Z).
__version__ = "0.2.0"

from ._browser import prepare as _prepare_browser

_prepare_browser()  # in JupyterLite only: keep matplotlib's first-run font-cache notice off stderr
