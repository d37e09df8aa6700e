"""Scores a trained run: writes <workdir>/eval/metrics.json, report.md and figures.

    python -m launch.evaluate --workdir=/tmp/ldx
    python -m launch.evaluate --workdir=/tmp/ldx --num_windows=500 --repeats=3 --overwrite

Metrics (ldx.metrics) on the [0, 1] per-feature scale of the training split, for N generated
windows and, as the floor, N real training windows, each against N held-out test windows.
The scored windows are kept in eval/samples.npz (`samples` in data units, `samples_normalized`).
An existing <workdir>/eval is kept unless --overwrite; the new folder replaces it only once
it is complete.
"""

import os
import shutil

import numpy as np
from absl import app, flags

from launch import common
from ldx.errors import LdxError
from ldx.evaluation import EvalConfig, evaluate_run
from ldx.report import run_markdown, write_figures, write_json
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a trained run.")
_NUM = flags.DEFINE_integer("num_windows", 1000, "Windows per set (capped by the test split).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Repeats of the learned metrics.")
_DISC = flags.DEFINE_integer("disc_iterations", 2000, "Discriminative GRU Adam steps.")
_PRED = flags.DEFINE_integer("pred_iterations", 5000, "Predictive GRU Adam steps.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch of the learned metrics.")
_SEED = flags.DEFINE_integer("seed", 0, "Seeds the subsets, samples and learned metrics.")
_FIGURES = flags.DEFINE_bool("figures", True, "Draw samples.png, pca.png and tsne.png.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing <workdir>/eval.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    out = os.path.join(_WORKDIR.value, "eval")
    if os.path.exists(out) and not _OVERWRITE.value:
        raise LdxError(f"{out} exists; pass --overwrite to replace it.")
    cfg = EvalConfig(
        num_windows=_NUM.value,
        repeats=_REPEATS.value,
        disc_iterations=_DISC.value,
        pred_iterations=_PRED.value,
        batch_size=_BATCH.value,
        seed=_SEED.value,
    )
    run = load_run(_WORKDIR.value)
    results, fake = evaluate_run(run, cfg)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a leftover of an interrupted call
    os.makedirs(tmp)
    figures = []
    if _FIGURES.value:
        figures = write_figures(run.experiment.dataset.test, fake, tmp, seed=cfg.seed)
    scaler = run.experiment.dataset.scaler
    np.savez(
        os.path.join(tmp, "samples.npz"),
        samples=scaler.inverse_transform(fake),
        samples_normalized=fake,
    )
    write_json(os.path.join(tmp, "metrics.json"), results)
    with open(os.path.join(tmp, "report.md"), "w") as f:
        f.write(run_markdown(results, figures))
    old = out + ".old"
    if os.path.exists(out):  # --overwrite: swap in the complete new folder, then drop the old
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    common.run(main)
