"""README.md states two commands, and .ci/run runs exactly the test command."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)


def test_readme_states_exactly_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    install, test = commands
    assert 'pip install -e ".[dev]"' in install and "jupyter lab notebooks/" in install
    assert test.startswith("python -m pytest")


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    install, test = _readme_commands()
    assert test in ci, f".ci/run must run the README's test command {test!r} verbatim"
    assert any('pip install --quiet -e ".[dev]"' in line for line in ci)


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
