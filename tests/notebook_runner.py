"""Execute a notebook in a fresh kernel and report failures by notebook and cell.

Used by the learner simulation and by the install checks (which run it with another
environment's Python):

    python tests/notebook_runner.py NOTEBOOK.ipynb OUTPUT.ipynb [--cwd DIR] [--timeout SECONDS]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


class NotebookFailed(RuntimeError):
    pass


def execute(nb, *, cwd: str | Path, name: str = "notebook", timeout: int = 600):
    """Run every cell of ``nb`` (a NotebookNode) in a new ``python3`` kernel; return it with outputs."""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        failing = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                        and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        code_index = None if failing is None else sum(1 for c in nb.cells[:failing] if c.cell_type == "code")
        raise NotebookFailed(f"{name}: cell {failing} (code cell {code_index}) failed:\n{exc}") from None
    return nb


def stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"
                   and o.get("name") == "stdout")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("output")
    parser.add_argument("--cwd", default=None)
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args(argv)
    path = Path(args.notebook)
    nb = nbformat.read(path, as_version=4)
    try:
        execute(nb, cwd=args.cwd or path.parent, name=path.name, timeout=args.timeout)
    except NotebookFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    nbformat.write(nb, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
