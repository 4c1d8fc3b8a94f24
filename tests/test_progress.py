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
    from tqdm.auto import tqdm

    monkeypatch.setattr(tqdm, "monitor_interval", tqdm.monitor_interval)  # restored after the test
    monkeypatch.setattr(sys, "platform", "emscripten")
    monkeypatch.delenv("COURSEKIT_PROGRESS", raising=False)
    with ProgressBar(2, desc="x", unit="step", enabled=True) as bar:
        bar.advance()
        bar.advance()
    assert tqdm.monitor_interval == 0


def test_the_monitor_thread_is_left_alone_elsewhere(monkeypatch):
    from tqdm.auto import tqdm

    monkeypatch.setattr(tqdm, "monitor_interval", 10)
    monkeypatch.delenv("COURSEKIT_PROGRESS", raising=False)
    with ProgressBar(1, desc="x", unit="step", enabled=True) as bar:
        bar.advance()
    assert tqdm.monitor_interval == 10 and _progress.sys.platform != "emscripten"


# ----------------------------------------------------------------------------- widget bars in a Jupyter kernel

_SETUP = """
import numpy as np
from coursekit.early_stopping import EarlyStopping
from coursekit.experiments import run_seeds
from coursekit.layers import Dense
from coursekit.losses import binary_cross_entropy_with_logits as bce
from coursekit.model import Sequential
from coursekit.training import fit
import tqdm.auto, tqdm.notebook
assert issubclass(tqdm.auto.tqdm, tqdm.notebook.tqdm), tqdm.auto.tqdm.__mro__

class NoStep:
    def step(self):
        pass

X = np.random.default_rng(0).standard_normal((20, 2))
y = (X[:, 0] > 0).astype(int)
def run(**kwargs):
    model = Sequential(Dense(2, 1, rng=np.random.default_rng(0)))
    return fit(model, bce, NoStep(), X, y, batch_size=10, rng=np.random.default_rng(0), **kwargs)
"""

_CELLS = {
    "early stop": "h = run(epochs=50, validation_data=(X, y), callbacks=[EarlyStopping(patience=2)])",
    "exception": """try:
    run(epochs=50, callbacks=[EarlyStopping(monitor="val_acc", mode="max")])
except ValueError as err:
    print("ValueError")""",
    "full run": "h = run(epochs=4)",
    "diverged": """import warnings
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
print(h.diverged, h.stopped_epoch)""",
    "seeds": "rows = run_seeds(lambda streams: {'loss': 1.0}, [0, 1, 2])",
    "seed fails": """try:
    run_seeds(lambda streams: {'loss': float(streams.seed) if streams.seed < 1 else float('nan')}, [0, 1, 2])
except ValueError:
    print("ValueError")""",
}


def _bar_states(nb, cell):
    """The state of each tqdm widget a cell displayed: style, value/max, label, visibility."""
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = []
    for output in cell.outputs:
        view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
        if view is None:
            continue
        box = state[view["model_id"]]["state"]
        label, progress, _ = (state[child.removeprefix("IPY_MODEL_")]["state"] for child in box["children"])
        layout = state[box["layout"].removeprefix("IPY_MODEL_")]["state"]
        bars.append({"style": progress["bar_style"], "value": progress["value"], "max": progress["max"],
                     "label": label["value"].replace("\u2007", " "), "hidden": layout.get("visibility") == "hidden"})
    return bars


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_SETUP)]
                                  + [nbformat.v4.new_code_cell(code) for code in _CELLS.values()])
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path_factory.mktemp("progress"))}}).execute()
    return {name: (nb, cell) for name, cell in zip(_CELLS, nb.cells[1:])}


def test_notebook_early_stop_closes_the_bar_green_full_and_labelled(executed):
    (bar,) = _bar_states(*executed["early stop"])
    assert bar["style"] == "success" and bar["value"] == bar["max"] == 3 and not bar["hidden"]
    assert bar["label"].startswith("stopped early at epoch 2 (0-based) of 50")


def test_notebook_exception_hides_the_bar_instead_of_leaving_it_red(executed):
    nb, cell = executed["exception"]
    (bar,) = _bar_states(nb, cell)
    assert bar["style"] != "danger" and bar["hidden"]
    assert "ValueError" in "".join(o.get("text", "") for o in cell.outputs)  # the exception reached the cell


def test_notebook_a_diverged_run_stopped_on_purpose_closes_orange_and_labelled(executed):
    nb, cell = executed["diverged"]
    (bar,) = _bar_states(nb, cell)
    assert "True 1" in "".join(o.get("text", "") for o in cell.outputs)  # diverged in epoch 1 (its 4th step)
    assert bar["style"] == "warning" and bar["value"] == bar["max"] == 1 and not bar["hidden"]
    assert bar["label"].startswith("diverged at epoch 1 (0-based) of 50: stopped")


def test_notebook_full_runs_remove_their_bars(executed):
    for name in ("full run", "seeds"):
        (bar,) = _bar_states(*executed[name])
        assert bar["hidden"] and bar["style"] != "danger" and bar["value"] == bar["max"], name


def test_notebook_a_failing_seed_hides_the_seed_bar(executed):
    (bar,) = _bar_states(*executed["seed fails"])
    assert bar["hidden"] and bar["style"] != "danger"


def test_the_progress_flag_must_be_a_bool():
    with pytest.raises(TypeError, match=r"run_seeds: progress must be True or False, got 'no'"):
        run_seeds(lambda streams: {"loss": 1.0}, [0], progress="no")
