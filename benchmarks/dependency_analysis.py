"""Posterior-collapse analysis (issue 4): LD vs PSLD dependency on ordered and shuffled windows.

    LDX_DATA_DIR=../shared/data python benchmarks/dependency_analysis.py
    python benchmarks/dependency_analysis.py --datasets=stocks  # one dataset
    python benchmarks/dependency_analysis.py --methods=psld --psld_cs_bound=marginal_step

Trains one run per (dataset, method, order) into <output>/runs/<dataset>-<method>-<order>,
measures it with `ldx.dependency.report` (the same code as `launch.dependency`) and writes
<output>/summary.json and summary.md (per run: mean and std over series of the global and
first-order local dependency at the last step, and the averaged curves) plus the figures
<output>/<dataset>-<method>-<order>-average.png and <output>/<dataset>-<method>-series.png
(the ordered run). Resumable: a run whose measures exist is skipped, a half-trained one
resumes from its checkpoint; the summary covers every finished run under <output>/runs, so
two processes on different --datasets can share one --output. --psld_cs_bound names its
PSLD runs <dataset>-psld-<bound>-<order>. Results: docs/dependency_analysis.md.
"""

import json
import os
import shutil
import sys

import numpy as np
from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import ld, psld  # noqa: E402
from ldx import compilation_cache  # noqa: E402
from ldx.dependency.report import measure_run, save_report  # noqa: E402
from ldx.experiment import build_experiment
from ldx.train import load_run, train  # noqa: E402

CONFIGS = {"ld": ld.get_config, "psld": psld.get_config}
ORDERS = ("ordered", "shuffled")

_OUTPUT = flags.DEFINE_string(
    "output", "benchmarks/results/dependency_analysis", "Folder for summary and figures."
)
_DATASETS = flags.DEFINE_list("datasets", ["stocks", "etth1"], "Real datasets.")
_METHODS = flags.DEFINE_list("methods", ["ld", "psld"], "Methods (configs/<method>.py).")
_ORDERS = flags.DEFINE_list("orders", list(ORDERS), "ordered and/or shuffled windows.")
_BACKBONE = flags.DEFINE_enum("backbone", "gru", ["gru", "lstm"], "Recurrent backbone.")
_STEPS = flags.DEFINE_integer("num_steps", 2000, "Training steps per run.")
_SEED = flags.DEFINE_integer("seed", 0, "Training and measurement seed.")
_NUM = flags.DEFINE_integer("num_samples", 500, "Generated series measured per run.")
_POINTS = flags.DEFINE_integer("num_points", 32, "Gauss-Legendre points.")
_CS_BOUND = flags.DEFINE_string(
    "psld_cs_bound", None, "Override PSLD's objective.cs_bound; its runs are named psld-<bound>."
)
_SUMMARY_ONLY = flags.DEFINE_bool("summary_only", False, "Only rewrite the summary.")


def run_name(dataset: str, method: str, order: str) -> str:
    if method == "psld" and _CS_BOUND.value:
        method = f"psld-{_CS_BOUND.value}"
    return f"{dataset}-{method}-{order}"


def make_config(dataset: str, method: str, order: str):
    config = CONFIGS[method]()
    config.seed = _SEED.value
    config.data.name = dataset
    config.data.shuffle_time = order == "shuffled"
    config.model.backbone = _BACKBONE.value
    config.train.num_steps = _STEPS.value
    config.train.progress_bar = False
    config.train.sample_after = False
    if method == "psld" and _CS_BOUND.value:
        config.objective.cs_bound = _CS_BOUND.value
    return config


def do_run(dataset: str, method: str, order: str) -> None:
    """Trains (or resumes) one run, then measures it and copies its figures."""
    name = run_name(dataset, method, order)
    workdir = os.path.join(_OUTPUT.value, "runs", name)
    folder = os.path.join(workdir, "dependency", "model")
    if os.path.exists(os.path.join(folder, "summary.json")):
        logging.info("%s: finished, skipped.", name)
    else:
        logging.info("%s: training %d steps.", name, _STEPS.value)
        train(build_experiment(make_config(dataset, method, order)), workdir)
        report = measure_run(
            load_run(workdir), "model", _NUM.value, num_points=_POINTS.value, seed=_SEED.value
        )
        save_report(report, folder)
    shutil.copyfile(
        os.path.join(folder, "average.png"), os.path.join(_OUTPUT.value, f"{name}-average.png")
    )
    if order == "ordered":
        target = os.path.join(_OUTPUT.value, name.replace("-ordered", "-series.png"))
        shutil.copyfile(os.path.join(folder, "series.png"), target)


def run_summary(folder: str) -> dict:
    """Numbers of one measured run from its measures.npz."""
    with np.load(os.path.join(folder, "measures.npz")) as f:
        info = json.loads(str(f["info"]))
        glob, loc = f["global_dependency"], f["local_dependency"]  # [N, T] each
        curves = {k: f[k] for k in ("global_mean", "local1_mean", "local2_mean")}
        err = np.abs(np.sum(f["m"], -1) - 1.0)  # [N, T] completeness error
    return {
        "step": info["step"],
        "num_series": info["num_series"],
        "global_last_mean": float(np.mean(glob[:, -1])),
        "global_last_std": float(np.std(glob[:, -1])),
        "local1_last_mean": float(np.mean(loc[:, -1])),
        "local1_last_std": float(np.std(loc[:, -1])),
        "global_first_mean": float(np.mean(glob[:, 1])),
        "global_avg_mean": float(np.mean(glob)),
        "local1_avg_mean": float(np.nanmean(loc[:, 1:])),
        "median_completeness_error": float(np.median(err)),
        "max_completeness_error": float(np.max(err)),
        "curves": {k: [round(float(x), 4) for x in v] for k, v in curves.items()},
    }


def write_summary() -> dict:
    runs = {}
    root = os.path.join(_OUTPUT.value, "runs")
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        folder = os.path.join(root, name, "dependency", "model")
        if os.path.exists(os.path.join(folder, "summary.json")):
            runs[name] = run_summary(folder)
    settings = {
        "backbone": _BACKBONE.value,
        "num_steps": _STEPS.value,
        "num_samples": _NUM.value,
        "num_points": _POINTS.value,
        "rule": "gauss_legendre",
        "source": "model",
        "seed": _SEED.value,
    }
    with open(os.path.join(_OUTPUT.value, "summary.json"), "w") as f:
        json.dump({"settings": settings, "runs": runs}, f, indent=1)
    lines = [
        "# Dependency analysis: LD vs PSLD",
        "",
        f"Settings: {json.dumps(settings)}. Mean (std over series) at the last step t = T-1;",
        "avg = mean over all t (local-1 over t >= 1). Generated series, Gauss-Legendre.",
        "",
        "| run | step | global last | local-1 last | global t=1 | global avg | local-1 avg "
        "| compl. err median / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        lines.append(
            f"| {name} | {r['step']} "
            f"| {r['global_last_mean']:.3f} ({r['global_last_std']:.3f}) "
            f"| {r['local1_last_mean']:.3f} ({r['local1_last_std']:.3f}) "
            f"| {r['global_first_mean']:.3f} | {r['global_avg_mean']:.3f} "
            f"| {r['local1_avg_mean']:.3f} "
            f"| {r['median_completeness_error']:.1e} / {r['max_completeness_error']:.1e} |"
        )
    lines += ["", "Mean global dependency per t:", ""]
    for name, r in runs.items():
        lines.append(f"* {name}: " + " ".join(f"{v:.2f}" for v in r["curves"]["global_mean"]))
    with open(os.path.join(_OUTPUT.value, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return runs


def main(argv):
    del argv
    compilation_cache.enable()
    os.makedirs(_OUTPUT.value, exist_ok=True)
    if not _SUMMARY_ONLY.value:
        for dataset in _DATASETS.value:
            for method in _METHODS.value:
                for order in _ORDERS.value:
                    do_run(dataset, method, order)
    runs = write_summary()
    for name, r in runs.items():
        print(
            f"{name}: global_last={r['global_last_mean']:.3f} "
            f"local1_last={r['local1_last_mean']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)
