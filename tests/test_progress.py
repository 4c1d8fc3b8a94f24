"""Progress bars (coursekit._progress, used by fit and run_seeds): they end cleanly, obey
COURSEKIT_PROGRESS, and work in Jupyter (tqdm.notebook widgets, inspected in a real kernel)."""
import sys

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from coursekit import _progress
from coursekit._progress import ProgressBar, progress_enabled
from coursekit.early_stopping import EarlyStopping
from coursekit.experiments import run_seeds
from coursekit.layers import Dense
from coursekit.losses import binary_cross_entropy_with_logits as bce
from coursekit.model import Sequential
from coursekit.optim import SGD
from coursekit.training import fit


class NoStep:
    """An optimizer that changes nothing: the validation loss stays flat, so early stopping stops."""

    def step(self):
        pass


def _data():
    X = np.random.default_rng(0).standard_normal((20, 2))
    return X, (X[:, 0] > 0).astype(np.int64)


def _model():
    return Sequential(Dense(2, 1, rng=np.random.default_rng(0), dtype=np.float64))


# ----------------------------------------------------------------------------- COURSEKIT_PROGRESS

@pytest.mark.parametrize("value", ["0", "off", "false", "OFF", " False ", "no"])
def test_the_environment_variable_turns_every_bar_off(monkeypatch, capsys, value):
    monkeypatch.setenv("COURSEKIT_PROGRESS", value)
    assert not progress_enabled(True)
    X, y = _data()
    fit(_model(), bce, NoStep(), X, y, epochs=3, batch_size=10, rng=np.random.default_rng(0), progress=True)
    run_seeds(lambda streams: {"loss": 1.0}, [0, 1], progress=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["1", "on", "", "true"])
def test_other_values_leave_the_progress_argument_in_charge(monkeypatch, capsys, value):
    monkeypatch.setenv("COURSEKIT_PROGRESS", value)
    assert progress_enabled(True) and not progress_enabled(False)
    X, y = _data()
    fit(_model(), bce, NoStep(), X, y, epochs=3, batch_size=10, rng=np.random.default_rng(0), progress=True)
    assert "epochs" in capsys.readouterr().err
    fit(_model(), bce, NoStep(), X, y, epochs=3, batch_size=10, rng=np.random.default_rng(0), progress=False)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- text bars (terminal)

def test_an_early_stop_leaves_a_finished_bar_with_the_reason(monkeypatch, capsys):
    monkeypatch.delenv("COURSEKIT_PROGRESS", raising=False)
    X, y = _data()
    history = fit(_model(), bce, NoStep(), X, y, epochs=50, batch_size=10, rng=np.random.default_rng(0),
                  validation_data=(X, y), callbacks=[EarlyStopping(patience=2)], progress=True)
    assert history.stopped_epoch == 2
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("stopped early at epoch 2 (0-based) of 50: 100%") and "3/3" in last


def test_a_full_run_removes_its_bar_and_an_exception_propagates(monkeypatch, capsys):
    monkeypatch.delenv("COURSEKIT_PROGRESS", raising=False)
    X, y = _data()
    with pytest.raises(ValueError, match="monitor='val_acc' is not in the logs"):
        fit(_model(), bce, NoStep(), X, y, epochs=50, batch_size=10, rng=np.random.default_rng(0),
            callbacks=[EarlyStopping(monitor="val_acc", mode="max")], progress=True)
    assert "stopped early" not in capsys.readouterr().err


def test_the_monitor_thread_is_off_in_the_browser(monkeypatch):
    from tqdm.std import tqdm

    monkeypatch.setattr(tqdm, "monitor_interval", tqdm.monitor_interval)  # restored after the test
    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.delenv("COURSEKIT_PROGRESS", raising=False)
    with ProgressBar(2, desc="x", unit="step", enabled=True) as bar:
        bar.advance()
        bar.advance()
    assert tqdm.monitor_interval == 0


def test_the_monitor_thread_is_left_alone_elsewhere(monkeypatch):
    from tqdm.std import tqdm

    monkeypatch.setattr(tqdm, "monitor_interval", 10)
    monkeypatch.delenv("COURSEKIT_PROGRESS", raising=False)
    with ProgressBar(1, desc="x", unit="step", enabled=True) as bar:
        bar.advance()
    assert tqdm.monitor_interval == 10 and _progress.sys.platform != "emscripten"


def test_outside_a_notebook_the_bar_is_tqdm_s_text_bar_on_stderr(monkeypatch, capsys):
    monkeypatch.delenv("COURSEKIT_PROGRESS", raising=False)
    with ProgressBar(2, desc="seeds", unit="seed", enabled=True) as bar:
        assert bar.kind == "terminal"
        bar.advance()
        bar.advance()
    captured = capsys.readouterr()
    assert captured.out == "" and "seeds" in captured.err


# ----------------------------------------------------------------------------- bars in a Jupyter kernel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

_SETUP = """
import numpy as np
from coursekit.early_stopping import EarlyStopping
from coursekit.experiments import run_seeds
from coursekit.layers import Dense
from coursekit.losses import binary_cross_entropy_with_logits as bce
from coursekit.model import Sequential
from coursekit.training import fit

class NoStep:
    def step(self):
        pass

X = np.random.default_rng(0).standard_normal((20, 2))
y = (X[:, 0] > 0).astype(int)
def run(**kwargs):
    model = Sequential(Dense(2, 1, rng=np.random.default_rng(0)))
    return fit(model, bce, NoStep(), X, y, batch_size=10, rng=np.random.default_rng(0), **kwargs)
"""

_DIVERGE = """import warnings
from coursekit.optim import SGD
class Explode(SGD):
    def step(self):
        super().step()
        if self.state.setdefault("steps", [0])[0] == 3:
            self.params[0].value[...] = np.inf
        self.state["steps"][0] += 1
model = Sequential(Dense(2, 1, rng=np.random.default_rng(0)))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    h = fit(model, bce, Explode(model.parameters(), lr=0.1), X, y, batch_size=10, rng=np.random.default_rng(0),
            epochs=50, on_nan="stop")
print(h.diverged, h.stopped_epoch)"""

_CELLS = {
    "early stop": "h = run(epochs=50, validation_data=(X, y), callbacks=[EarlyStopping(patience=2)])",
    "exception": """try:
    run(epochs=50, callbacks=[EarlyStopping(monitor="val_acc", mode="max")])
except ValueError as err:
    print("ValueError")""",
    "full run": "h = run(epochs=4)",
    "diverged": _DIVERGE,
    "seeds": "rows = run_seeds(lambda streams: {'loss': 1.0}, [0, 1, 2])",
    "seed fails": """try:
    run_seeds(lambda streams: {'loss': float(streams.seed) if streams.seed < 1 else float('nan')}, [0, 1, 2])
except ValueError:
    print("ValueError")""",
    # From here on, a kernel without ipywidgets (as JupyterLite's): text bars, drawn in an ordinary output.
    "no widgets": "import tqdm.notebook\ntqdm.notebook.IProgress = None\nh = run(epochs=4)",
    "no widgets, early stop": "h = run(epochs=50, validation_data=(X, y), callbacks=[EarlyStopping(patience=2)])",
    "no widgets, exception": """try:
    run(epochs=50, callbacks=[EarlyStopping(monitor="val_acc", mode="max")])
except ValueError as err:
    print("ValueError")""",
}


class _RecordingClient(NotebookClient):
    """nbclient, recording every output message each cell sent while it ran (not only what is left at the end)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent: dict[int, list[tuple[str, dict]]] = {}

    def process_message(self, msg, cell, cell_index):
        kind = msg["msg_type"]
        if kind in ("display_data", "update_display_data", "stream"):
            self.sent.setdefault(cell_index, []).append((kind, msg["content"]))
        return super().process_message(msg, cell, cell_index)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_SETUP)]
                                  + [nbformat.v4.new_code_cell(code) for code in _CELLS.values()])
    client = _RecordingClient(nb, timeout=300, kernel_name="python3",
                              resources={"metadata": {"path": str(tmp_path_factory.mktemp("progress"))}})
    env = {k: v for k, v in __import__("os").environ.items() if k != "COURSEKIT_PROGRESS"}
    client.execute(env=env)
    return {name: (cell, client.sent.get(index, [])) for index, (name, cell) in enumerate(zip(_CELLS, nb.cells[1:]),
                                                                                          start=1)}


def _texts(cell) -> list[str]:
    """What the saved cell shows: each output's text (a display's text/plain, a stream's text)."""
    texts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            texts.append(output.text)
        elif output.output_type in ("display_data", "execute_result"):
            texts.append(output.data.get("text/plain", ""))
    return texts


def _widget_views(cell) -> int:
    return sum(WIDGET_VIEW in output.get("data", {}) for output in cell.outputs)


def _drawn_as_widget(sent) -> bool:
    return any(kind == "display_data" and WIDGET_VIEW in content["data"] for kind, content in sent)


def test_a_saved_notebook_keeps_no_widget_view(executed):
    for name, (cell, _) in executed.items():
        assert _widget_views(cell) == 0, f"{name}: a widget view is left in the saved outputs: {cell.outputs}"
        assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"], \
            f"{name}: something was written to stderr: {cell.outputs}"


def test_with_ipywidgets_the_bar_is_a_widget_while_it_runs(executed):
    for name in ("early stop", "exception", "full run", "diverged", "seeds", "seed fails"):
        cell, sent = executed[name]
        assert _drawn_as_widget(sent), f"{name}: no widget bar was displayed while it ran: {sent}"
        assert any(kind == "update_display_data" for kind, _ in sent), f"{name}: the bar's output was not replaced"


def test_an_early_stop_ends_as_one_line_with_the_reason(executed):
    for name in ("early stop", "no widgets, early stop"):
        cell, _ = executed[name]
        (line,) = [text for text in _texts(cell) if text]
        assert line.startswith("stopped early at epoch 2 (0-based) of 50, after 3 epochs in 00:0"), (name, line)
        assert "val_loss=" in line, line


def test_a_full_run_ends_as_one_summary_line(executed):
    for name, total, unit in (("full run", 4, "epochs"), ("seeds", 3, "seeds"), ("no widgets", 4, "epochs")):
        cell, _ = executed[name]
        (line,) = [text for text in _texts(cell) if text]
        assert line.startswith(f"{unit}: {total}/{total} in 00:0"), (name, line)


def test_a_diverged_run_stopped_on_purpose_says_so(executed):
    cell, _ = executed["diverged"]
    texts = _texts(cell)
    assert any(text.startswith("diverged at epoch 1 (0-based) of 50: stopped, after 1 epoch in") for text in texts), \
        texts
    assert "True 1\n" in texts  # diverged in epoch 1 (its 4th step)


def test_an_exception_removes_the_bar_and_propagates(executed):
    for name in ("exception", "seed fails", "no widgets, exception"):
        cell, _ = executed[name]
        assert [text for text in _texts(cell) if text] == ["ValueError\n"], (name, cell.outputs)


def test_without_ipywidgets_the_bar_is_text_redrawn_in_place_never_on_stderr(executed):
    cell, sent = executed["no widgets"]
    assert not _drawn_as_widget(sent), sent
    assert not [content for kind, content in sent if kind == "stream"], "a text bar was written to a stream"
    drawn = [content["data"]["text/plain"] for kind, content in sent if kind in ("display_data", "update_display_data")]
    assert drawn[0] == "epochs: 0/4" and any("%|" in text for text in drawn), drawn
    assert drawn[-1].startswith("epochs: 4/4 in"), drawn


def test_the_progress_flag_must_be_a_bool():
    with pytest.raises(TypeError, match=r"run_seeds: progress must be True or False, got 'no'"):
        run_seeds(lambda streams: {"loss": 1.0}, [0], progress="no")
