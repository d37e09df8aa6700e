"""Duplicated columns and the discriminative score (issue 18, docs/quality.md Cause 2).

    python -m benchmarks.duplicate_features --dataset=energy [--workdir=W] [--out=F]

Energy's `rv1` and `rv2` are the same random column, and stocks' `Close` and `Adj_Close` are
equal on every row. A decoder that draws each feature's noise independently cannot keep such
copies equal. This prints one JSON line for a dataset: its exactly duplicated column pairs, and
the published discriminative score (reference capped at --num_windows) of real windows against
real windows (a random half each)
* as they are (`real`),
* with each copy taken from another random window (`copy_from_other_window`: every marginal
  kept, only the equality broken),
* with N(0, noise^2) added to each copy (`copy_plus_noise`).
With --workdir, also the run's own draws as drawn and with each copy set to its original
(`run_as_drawn`, `run_copies_tied`): how much of a run's score the copies explain.
"""

from __future__ import annotations

import jax
import numpy as np
from absl import app, flags

from benchmarks.common import emit
from ldx import metrics
from ldx.data import DataConfig
from ldx.data.pipeline import load_raw
from ldx.eval.published import PublishedConfig, reference
from ldx.eval.scores import generate_windows
from ldx.train import load_run

_DATASET = flags.DEFINE_string("dataset", "energy", "Named dataset.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Optional trained LD/PSLD run of that dataset.")
_NUM = flags.DEFINE_integer("num_windows", 2000, "Reference windows (a seeded random subset).")
_ITERS = flags.DEFINE_integer("disc_iterations", 1000, "Discriminator steps.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Discriminator repeats.")
_NOISE = flags.DEFINE_float("noise", 0.01, "Std of the noise added to each copy.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON line to this file.")


def duplicate_pairs(raw: np.ndarray) -> list[tuple[int, int]]:
    """(original, copy) column pairs equal on every row. # [N, D] -> pairs, copy > original"""
    d = raw.shape[1]
    same = lambda i, j: np.array_equal(raw[:, i], raw[:, j])  # noqa: E731
    return [(i, j) for i in range(d) for j in range(i + 1, d) if same(i, j)]


def main(_):
    data_cfg = DataConfig(name=_DATASET.value, seq_len=24)
    pairs = duplicate_pairs(load_raw(data_cfg))
    real, scaler = reference(data_cfg, PublishedConfig(num_windows=_NUM.value, seed=0))
    rng = np.random.default_rng(0)
    real = real[rng.permutation(len(real))]
    a, b = real[: len(real) // 2], real[len(real) // 2 :]

    def disc(reference_half, fake):
        return metrics.discriminative_score(
            reference_half, fake, jax.random.key(0), iterations=_ITERS.value, repeats=_REPEATS.value
        ).mean

    def retie(x, copy_of):  # copy_of(original column [N, T], copy index) -> new copy column
        x = x.copy()
        for i, j in pairs:
            x[..., j] = copy_of(x[..., i], j)
        return x

    record = {"dataset": _DATASET.value, "pairs": pairs, "num_windows": len(real)}
    record["real"] = disc(a, b)
    if pairs:
        other = rng.permutation(len(b))
        record["copy_from_other_window"] = disc(a, retie(b, lambda col, j: b[other][..., j]))
        noise = lambda col, j: col + _NOISE.value * rng.standard_normal(col.shape)  # noqa: E731
        record["copy_plus_noise"] = disc(a, retie(b, noise))
    if _WORKDIR.value:
        run = load_run(_WORKDIR.value)
        fake = generate_windows(run, len(real), 0)
        fake = scaler.transform(run.experiment.dataset.scaler.inverse_transform(fake))
        record["workdir"] = _WORKDIR.value
        record["run_as_drawn"] = disc(real, fake)
        record["run_copies_tied"] = disc(real, retie(fake, lambda col, j: col))
    emit(record, _OUT.value)


if __name__ == "__main__":
    app.run(main)
