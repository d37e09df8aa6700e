"""Probe (issue 18, docs/quality.md Cause 2b): a run trained on every column, sampled with its
exactly dependent columns tied to the others inside the autoregressive loop.

    python -m benchmarks.tie_probe --workdirs=W --disc_iterations=1000 --out=FILE.jsonl

After each step's draw, x_t <- x_t P + c, where P and c restore the columns that
`ldx.data.column_basis` finds dependent on the run's training windows from the others, so the
next step reads tied inputs. Everything else, and the JSON line, is `benchmarks.sample_range`
(one workdir per call). The tie is patched into `GaussianHead.sample` for this process only: a
measurement, not a feature (the decoder's teacher-forced training is unchanged).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from absl import app

import benchmarks.sample_range as sample_range
from ldx.data import column_basis
from ldx.nn import decoders
from ldx.train import load_run

_TIE: dict = {}
_SAMPLE = decoders.GaussianHead.sample


def _tied_sample(self, params, eps):
    x = _SAMPLE(self, params, eps)
    return x @ _TIE["P"] + _TIE["c"] if _TIE else x


def main(argv):
    (workdir,) = sample_range._WORKDIRS.value
    train = load_run(workdir).experiment.dataset.train  # [N, T, D], every column
    d = train.shape[-1]
    keep, fill = column_basis(train.reshape(-1, d))
    dropped = np.setdiff1d(np.arange(d), keep)
    p, c = np.zeros((d, d), np.float32), np.zeros(d, np.float32)
    p[keep, keep] = 1.0
    p[np.ix_(keep, dropped)] = fill[:-1]
    c[dropped] = fill[-1]
    _TIE.update(P=jnp.asarray(p), c=jnp.asarray(c))
    decoders.GaussianHead.sample = _tied_sample
    sample_range.main(argv)


if __name__ == "__main__":
    app.run(main)
