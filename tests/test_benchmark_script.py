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
    assert all(len(w["runs"]["coursekit"]["epoch_times_s"]) == 1 for w in report["workloads"])


def test_compares_with_pytorch_when_installed():
    pytest.importorskip("torch")
    proc = run_script([*TINY, "--workloads", "mlp2d", "--threads", "1"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:1] == ["pytorch/1"] for line in lines)  # the PyTorch row under mlp2d
    assert any(line.strip().startswith("mlp2d vs pytorch/1:") and "<= 1x:" in line for line in lines)  # the verdict
    assert "PyTorch not installed" not in proc.stdout


def test_rejects_unknown_workload_and_malformed_grid_shapes():
    proc = run_script(["--workloads", "resnet", "--no-notebooks", "--no-torch"])
    assert proc.returncode != 0 and "unknown workload" in proc.stderr
    proc = run_script(["--workloads", "none", "--grid-shapes", "64:1:16:8:3:1", "--no-notebooks", "--no-torch"])
    assert proc.returncode != 0 and "must be N:Cin:C:H:k:s:p" in proc.stderr
    bench = load_benchmark_module()
    with pytest.raises(ValueError, match="at least 2x2"):  # 8x8, kernel 5, stride 2, no padding -> 2x2 is fine,
        bench.parse_grid_shapes("8:1:4:8:7:2:0")           # kernel 7 -> 1x1 leaves nothing to pool
    with pytest.raises(ValueError, match="at least 1"):
        bench.parse_grid_shapes("0:1:4:8:3:1:1")
    assert bench.parse_grid_shapes("8:1:4:8:5:2:0") == [bench.GridShape(8, 1, 4, 8, 5, 2, 0)]


def test_flop_count_follows_the_stated_rule():
    bench = load_benchmark_module()
    # 2-128-128-1 MLP: forward 2*(2*128 + 128*128 + 128*1) per sample, by hand
    mlp_forward = 2 * (2 * 128 + 128 * 128 + 128 * 1)
    assert bench.forward_flops_per_sample(bench.WORKLOADS["mlp2d"].spec, (2,)) == mlp_forward
    # an epoch: 150 training samples at 3x forward, 500 validation samples at 1x
    assert bench.epoch_flops(bench.WORKLOADS["mlp2d"], 150, 500, (2,)) == 3 * 150 * mlp_forward + 500 * mlp_forward
    # CNN on 1x8x8: conv 3x3 pad 1 keeps 8x8 (1->16 channels), conv 16->32 at 8x8, pool -> 4x4, dense 512->10
    conv1 = 2 * (8 * 8) * 16 * 1 * 9
    conv2 = 2 * (8 * 8) * 32 * 16 * 9
    dense = 2 * (32 * 4 * 4) * 10
    assert bench.forward_flops_per_sample(bench.WORKLOADS["cnn"].spec, (1, 8, 8)) == conv1 + conv2 + dense
    # a grid shape: 16x16, kernel 5, stride 2, no padding -> 6x6 (3->8 channels); conv 3x3 8->8 at 6x6; pool 3x3;
    # global average pooling -> 8; dense 8->10. Its largest im2col matrix: (3*25) x (N*6*6) float32 values.
    shape = bench.GridShape(4, 3, 8, 16, 5, 2, 0)
    flops = 2 * 36 * 8 * 3 * 25 + 2 * 36 * 8 * 8 * 9 + 2 * 8 * 10
    assert bench.forward_flops_per_sample(shape.spec(), (3, 16, 16)) == flops
    assert bench.largest_im2col_bytes(shape.spec(), (3, 16, 16), 4) == max(75 * 4 * 36, 72 * 4 * 36) * 4


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


def test_grid_runs_end_to_end_and_reports_memory_per_shape(tmp_path):
    out_json = tmp_path / "grid.json"
    proc = run_script([*TINY, "--workloads", "none", "--grid-shapes", "8:1:4:8:3:1:1,4:2:3:8:5:2:0",
                       "--grid-samples", "24", "--json", str(out_json)], hide_torch=True)
    assert proc.returncode == 0, proc.stderr
    assert "CNN shape grid" in proc.stdout and "peak MiB" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("N=")]
    assert sorted(" ".join(r[:6]) for r in rows) == ["N=4 2->3ch 8x8 k5 s2 p0", "N=8 1->4ch 8x8 k3 s1 p1"]
    for row in rows:  # coursekit ms, peak MiB
        assert float(row[6]) > 0 and float(row[-2]) > 0
    report = json.loads(out_json.read_text())
    assert [g["shape"]["batch"] for g in report["grid"]] == [8, 4]
    for g in report["grid"]:
        assert g["coursekit_epoch_peak_bytes"] > 0 and g["largest_im2col_bytes"] > 0
        assert len(g["runs"]["coursekit"]["epoch_times_s"]) == 1 and list(g["runs"]) == ["coursekit"]
        assert g["n_train"] == max(24, 2 * g["batch_size"])  # an epoch of --grid-samples images, >= 2 batches


def test_grid_interleaves_pytorch_with_default_threads_and_one_thread():
    torch = pytest.importorskip("torch")
    bench = load_benchmark_module()
    workload = bench.grid_workload(bench.GridShape(4, 1, 2, 8, 3, 1, 1), seed=0, samples=8)
    result = bench.measure(workload, 1, 2, 0, torch, [2, 1], lambda msg: None)
    assert list(result["runs"]) == ["coursekit", "pytorch/2", "pytorch/1"]
    for label in ("pytorch/2", "pytorch/1"):
        run = result["runs"][label]
        assert len(run["epoch_times_s"]) == 2  # one epoch per round, two rounds
        assert run["coursekit_over_this"] == pytest.approx(
            result["runs"]["coursekit"]["epoch_median_s"] / run["epoch_median_s"])
    assert bench.torch_thread_counts(torch, 1) == [1] and bench.torch_thread_counts(torch, 4) == [4, 1]


def test_grid_report_puts_the_worst_shape_first():
    bench = load_benchmark_module()

    def result(name, ratio_default, ratio_one):
        runs = {"coursekit": {"epoch_median_s": 1.0, "epoch_cpu_median_s": 1.0}}
        for label, ratio in (("pytorch/2", ratio_default), ("pytorch/1", ratio_one)):
            runs[label] = {"epoch_median_s": 1.0 / ratio, "coursekit_over_this": ratio, "coursekit_over_this_cpu": ratio}
        return {"workload": name, "runs": runs, "coursekit_epoch_peak_bytes": 2**20, "largest_im2col_bytes": 2**19}

    report = {"rounds": 1, "grid": [result("N=1 fast", 0.5, 0.4), result("N=2 worst", 3.0, 1.2),
                                    result("N=3 middle", 1.1, 0.9)]}
    lines = bench.format_grid(report)
    names = [line.split()[1] for line in lines if line.startswith("N=")]
    assert names == ["worst", "middle", "fast"]
    assert any("vs pytorch/2: 1 of 3 shapes at <= 1x; worst 3.00x" in line for line in lines)
    assert any("vs pytorch/1: 2 of 3 shapes at <= 1x; worst 1.20x" in line for line in lines)


def test_conv_techniques_script_runs_and_checks_every_alternative():
    # The script asserts, before timing, that each alternative gives the layer's values; a run is the test.
    cmd = [sys.executable, "benchmarks/conv_techniques.py", "--shapes", "4:2:6:3:3:1:1,3:2:7:4:5:2:0", "--repeats", "1"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    groups = [line[2:44].strip() for line in proc.stdout.splitlines() if line.startswith("  ") and line[2] != " "]
    common = ["forward product, whole batch", "Conv2D forward + backward", "batch norm per-channel sums",
              "ReLU forward", "3 matrix products, whole batch"]
    same_size = (common[:1] + ["im2col, a chunk of 4 samples", "col2im, a chunk of 4 samples"] + common[1:2]
                 + ["Conv2D, dx (C_out/C_in = 1.5)"] + common[2:])
    assert groups == same_size + common  # the shifted runs only where stride 1 keeps the size
    timings = [float(line.split(" ms (")[0].split()[-1]) for line in proc.stdout.splitlines() if " ms (" in line]
    assert len(timings) == 19 + 13 and all(t >= 0 for t in timings)
    bad = subprocess.run([sys.executable, "benchmarks/conv_techniques.py", "--shapes", "4:2:6"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "seven integers" in bad.stderr


CNN_LAYERS = REPO / "benchmarks" / "cnn_layers.py"


def test_cnn_layers_grid_against_pytorch_reports_medians_of_ratios_and_geometric_means(tmp_path):
    pytest.importorskip("torch")
    out_json = tmp_path / "layers.json"
    proc = subprocess.run([sys.executable, str(CNN_LAYERS), "--shapes", "4:1:2:4,3:2:3:6", "--rounds", "2",
                           "--min-time", "0", "--json", str(out_json)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "one thread each" in proc.stdout and "kernels" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line[:1].isdigit()]
    assert [r[0] for r in rows] == ["4:1:2:4", "3:2:3:6"]
    report = json.loads(out_json.read_text())
    assert report["ops"] == ["conv", "bn", "step"] and report["labels"] == ["coursekit", "pytorch"]
    for row in report["shapes"]:
        for op in report["ops"]:
            raw = row[op]["raw_s"]
            assert len(raw["coursekit"]["wall"]) == len(raw["pytorch"]["wall"]) == 2  # one median per round
            ratios = [a / b for a, b in zip(raw["coursekit"]["wall"], raw["pytorch"]["wall"])]
            assert row[op]["ck/pytorch"] == pytest.approx(sorted(ratios)[0] / 2 + sorted(ratios)[1] / 2)
    for op in report["ops"]:
        ratios = [row[op]["ck/pytorch"] for row in report["shapes"]]
        assert report["summary"][op]["geomean"] == pytest.approx((ratios[0] * ratios[1]) ** 0.5)
        assert f"{op}: geometric mean coursekit / PyTorch = {report['summary'][op]['geomean']:.2f}x" in proc.stdout


def test_cnn_layers_times_an_older_revision_alongside(tmp_path):
    # --baseline extracts coursekit/ at a git revision (git archive) and times it in the same rounds
    proc = subprocess.run([sys.executable, str(CNN_LAYERS), "--shapes", "4:1:2:4", "--ops", "step", "--rounds", "1",
                           "--min-time", "0", "--baseline", "HEAD", "--no-torch"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0 and "not a git repository" in proc.stderr:
        pytest.skip("not a git checkout")
    assert proc.returncode == 0, proc.stderr
    assert "ck@HEAD/ck" in proc.stdout and "ck@HEAD / coursekit geometric mean" in proc.stdout
    bad = subprocess.run([sys.executable, str(CNN_LAYERS), "--shapes", "4:1:2"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "must be N:Cin:C:H" in bad.stderr


FAKE_FAST_LAYERS = '''
"""A stand-in for CS231n's fast_layers with the same functions, written plainly (for the harness test only)."""
import numpy as np


def conv_forward_fast(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    f, _, kh, kw = w.shape
    h_out, w_out = (xp.shape[2] - kh) // s + 1, (xp.shape[3] - kw) // s + 1
    out = np.zeros((x.shape[0], f, h_out, w_out), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            window = xp[:, :, u:u + s * h_out:s, v:v + s * w_out:s]
            out += np.einsum("nchw,fc->nfhw", window, w[:, :, u, v])
    return out + b.reshape(1, -1, 1, 1), (x, w, conv_param)


def conv_backward_fast(dout, cache):
    x, w, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    f, _, kh, kw = w.shape
    h_out, w_out = dout.shape[2:]
    for u in range(kh):
        for v in range(kw):
            window = xp[:, :, u:u + s * h_out:s, v:v + s * w_out:s]
            dw[:, :, u, v] = np.einsum("nfhw,nchw->fc", dout, window)
            dxp[:, :, u:u + s * h_out:s, v:v + s * w_out:s] += np.einsum("nfhw,fc->nchw", dout, w[:, :, u, v])
    return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def max_pool_forward_fast(x, pool_param):
    n, c, h, w = x.shape
    k = pool_param["pool_height"]
    windows = x.reshape(n, c, h // k, k, w // k, k)
    return windows.max(axis=(3, 5)), (x, pool_param)


def max_pool_backward_fast(dout, cache):
    x, pool_param = cache
    n, c, h, w = x.shape
    k = pool_param["pool_height"]
    windows = x.reshape(n, c, h // k, k, w // k, k)
    is_max = windows == windows.max(axis=(3, 5), keepdims=True)
    return (is_max * dout[:, :, :, None, :, None]).reshape(x.shape)
'''


def test_cs231n_comparison_runs_against_the_fast_layers_api(tmp_path):
    # CS231n's code is not in the repository: a plain stand-in with the same API checks the harness
    package = tmp_path / "cs231n"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fast_layers.py").write_text(FAKE_FAST_LAYERS)
    cmd = [sys.executable, "benchmarks/cs231n_compare.py", "--cs231n-root", str(tmp_path), "--shapes",
           "3:2:4:6,2:1:3:4", "--rounds", "2", "--min-time", "0"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line[:1].isdigit()]
    assert [r[0] for r in rows] == ["3:2:4:6", "2:1:3:4"] and all(len(r) == 7 for r in rows)
    assert "conv: geometric mean coursekit / CS231n" in proc.stdout and "pool: geometric mean" in proc.stdout
    missing = subprocess.run([sys.executable, "benchmarks/cs231n_compare.py", "--cs231n-root", str(tmp_path / "no")],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "fast_layers.py not found" in missing.stderr
