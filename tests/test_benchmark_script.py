"""The speed benchmark (benchmarks/benchmark.py) runs end to end and counts FLOPs by the stated rule.

These tests never look at a timing: they only check that the script works and reports what it promises.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "benchmark.py"
TINY = ["--epochs", "1", "--rounds", "1", "--no-notebooks", "--matmul-size", "64", "--matmul-repeats", "2"]


def load_benchmark_module():
    spec = importlib.util.spec_from_file_location("coursekit_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_script(args, *, hide_torch=False):
    """Run the script as `python benchmarks/benchmark.py ARGS` from the repo root; optionally as if torch were absent."""
    if hide_torch:  # an import hook that makes `import torch` fail as if it were not installed
        code = ("import runpy, sys\n"
                "class HideTorch:\n"
                "    def find_spec(self, name, path=None, target=None):\n"
                "        if name.split('.')[0] == 'torch':\n"
                "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
                "sys.meta_path.insert(0, HideTorch())\n"
                f"sys.argv = ['benchmarks/benchmark.py'] + {args!r}\n"
                "runpy.run_path('benchmarks/benchmark.py', run_name='__main__')\n")
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "benchmarks/benchmark.py", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)


def test_runs_end_to_end_without_torch_and_prints_every_workload(tmp_path):
    out_json = tmp_path / "bench.json"
    proc = run_script([*TINY, "--json", str(out_json)], hide_torch=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "PyTorch not installed: skipped" in out
    assert "FLOPs counted analytically" in out  # the counting rule is stated
    assert "load average" in out and "GFLOP/s" in out and "notebooks: skipped" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:2] in
            (["mlp2d", "coursekit"], ["digits_mlp", "coursekit"], ["cnn", "coursekit"])]
    assert [r[0] for r in rows] == ["mlp2d", "digits_mlp", "cnn"]
    for row in rows:  # epoch ms, (min), CPU ms, GFLOP/s are positive numbers; peak MiB too
        assert all(float(v) > 0 for v in row[2:6]) and float(row[-1]) > 0
    assert "pytorch" not in [line.split()[0] for line in out.splitlines() if line.split()]
    report = json.loads(out_json.read_text())
    assert [w["workload"] for w in report["workloads"]] == ["mlp2d", "digits_mlp", "cnn"]
    assert all(len(w["coursekit"]["epoch_times_s"]) == 1 for w in report["workloads"])


def test_compares_with_pytorch_when_installed():
    pytest.importorskip("torch")
    proc = run_script([*TINY, "--workloads", "mlp2d", "--threads", "1"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:1] == ["pytorch"] for line in lines)  # the PyTorch row under mlp2d
    assert any(line.strip().startswith("mlp2d") and "<= 1x:" in line for line in lines)  # the target verdict
    assert "PyTorch not installed" not in proc.stdout


def test_rejects_unknown_workload():
    proc = run_script(["--workloads", "resnet", "--no-notebooks", "--no-torch"])
    assert proc.returncode != 0 and "unknown workload" in proc.stderr


def test_flop_count_follows_the_stated_rule():
    bench = load_benchmark_module()
    # 2-128-128-1 MLP: forward 2*(2*128 + 128*128 + 128*1) per sample, by hand
    mlp_forward = 2 * (2 * 128 + 128 * 128 + 128 * 1)
    assert bench.forward_flops_per_sample(bench.WORKLOADS["mlp2d"].spec, (2,)) == mlp_forward
    # an epoch: 150 training samples at 3x forward, 500 validation samples at 1x
    assert bench.epoch_flops(bench.WORKLOADS["mlp2d"], 150, 500, (2,)) == 3 * 150 * mlp_forward + 500 * mlp_forward
    # CNN on 1x8x8: conv 3x3 pad 1 keeps 8x8 (1->16 channels), pool -> 4x4, conv 16->32 at 4x4, pool -> 2x2, dense 128->10
    conv1 = 2 * (8 * 8) * 16 * 1 * 9
    conv2 = 2 * (4 * 4) * 32 * 16 * 9
    dense = 2 * (32 * 2 * 2) * 10
    assert bench.forward_flops_per_sample(bench.WORKLOADS["cnn"].spec, (1, 8, 8)) == conv1 + conv2 + dense


def test_notebook_timing_executes_each_notebook_and_reports_failures(tmp_path):
    import nbformat

    bench = load_benchmark_module()
    ok = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = sum(range(1000))\nprint(x)")])
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('boom')")])
    nbformat.write(ok, tmp_path / "00_ok.ipynb")
    nbformat.write(bad, tmp_path / "01_bad.ipynb")
    nbformat.write(ok, tmp_path / "not_a_lesson.ipynb")  # not NN_*: ignored
    messages = []
    results = bench.time_notebooks(messages.append, directory=tmp_path, timeout=120)
    assert [r["notebook"] for r in results] == ["00_ok.ipynb", "01_bad.ipynb"]
    assert results[0]["status"] == "ok" and results[0]["seconds"] > 0
    assert results[1]["status"].startswith("FAILED") and "01_bad.ipynb" in results[1]["status"]
    assert len(messages) == 2
