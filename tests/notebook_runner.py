"""Execute a notebook in a fresh kernel and report failures by notebook and cell.

Used by the learner simulation and by the install checks (which run it with another
environment's Python):

    python tests/notebook_runner.py NOTEBOOK.ipynb OUTPUT.ipynb [--cwd DIR] [--timeout SECONDS]
"""
from __future__ import annotations

import argparse
import re
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


# A warning as Python prints it ("UserWarning: ...", "OptimizeWarning: ...") or as pip and other
# tools do ("WARNING: ..." at the start of a line).
_WARNING_TEXT = re.compile(r"\b[A-Z]\w*Warning\b|^\s*WARNING\b", flags=re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def warnings_in(nb, *, ignore=()) -> list[str]:
    """Every code cell of an executed notebook that printed a warning or wrote to stderr.

    One entry per output: "cell N (code cell M), <stream>: <what it printed>". Lines containing any of
    ``ignore`` are left out (e.g. a note about the machine's pip configuration).
    """
    found = []
    code_index = -1
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        code_index += 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text, stream = output.get("text", ""), output.get("name")
            elif output.get("output_type") in ("display_data", "execute_result"):
                text, stream = output.get("data", {}).get("text/plain", ""), "display"
            else:
                continue
            text = "\n".join(line for line in _ANSI.sub("", "".join(text)).replace("\r", "\n").splitlines()
                             if line.strip() and not any(s in line for s in ignore))
            if text and (stream == "stderr" or _WARNING_TEXT.search(text)):
                shown = text if len(text) <= 600 else text[:600] + "..."
                found.append(f"cell {index} (code cell {code_index}), {stream}: {shown}")
    return found


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
