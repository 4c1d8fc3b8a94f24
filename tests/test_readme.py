"""README.md states two commands, and .ci/run runs exactly those (without opening JupyterLab)."""
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHOLE_SUITE = "python -m pytest --full"


def _quick_start() -> str:
    return (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]


def _readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", _quick_start(), flags=re.S)


def _steps(command: str) -> list[str]:
    return [step.strip() for step in command.split("&&")]


def test_readme_states_exactly_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    install, test = commands
    steps = _steps(install)
    assert 'python -m pip install -e ".[dev]"' in steps, steps
    # Learners work in their own, git-ignored copies: the workspace command makes them, and
    # JupyterLab opens there, never on the course's notebooks/ (saving there breaks `git pull`).
    assert steps[-2:] == ["python -m coursekit.workspace", "jupyter lab my-notebooks/"], steps
    assert test == WHOLE_SUITE, f"the second command must run the whole suite: {WHOLE_SUITE!r}, got {test!r}"


def test_readme_mentions_the_fast_loop_right_after_the_whole_suite():
    after = _quick_start().split(WHOLE_SUITE, 1)[1]
    first_paragraph = after.split("```", 1)[1].strip().split("\n\n", 1)[0]
    assert "`python -m pytest`" in first_paragraph and "slow" in first_paragraph, first_paragraph


def test_ci_runs_the_readme_install_and_test_commands():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install, test = _readme_commands()
    assert test in ci, f".ci/run must run the README's test command {test!r} verbatim"
    commands = [line for line in ci if line and not line.startswith("#")]
    assert commands[-1] == test, f".ci/run must end with the README's test command: {commands[-1]!r}"
    for step in _steps(install):
        if step.startswith(("python3 -m venv", ". .venv", "jupyter lab")):
            continue   # .ci/run makes its venv with $PYTHON and opens no JupyterLab
        words = shlex.split(step)
        assert any(shlex.split(line)[:len(words)] == words or
                   [w for w in shlex.split(line) if w != "--quiet"] == words for line in commands), \
            f".ci/run lacks README's install step {step!r}"


def test_gitignore_keeps_learners_copies_out_of_git():
    assert "my-notebooks/" in (ROOT / ".gitignore").read_text().splitlines()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    import sys
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(meta["dependencies"]) | {d for group in ("notebook", "test")
                                          for d in meta["optional-dependencies"][group] if ";" not in d}
    yml = {line.strip()[2:] for line in (ROOT / "environment.yml").read_text().splitlines()
           if line.strip().startswith("- ") and ">=" in line}
    assert wanted <= yml | {"python>=3.10"}, f"missing from environment.yml: {sorted(wanted - yml)}"
