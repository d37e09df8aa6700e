"""Writing a trained run's samples: an .npz in data and normalised units, and a PNG beside it.

Shapes follow ldx/shapes.py.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from ldx.batching import draw, make_generate_fn
from ldx.eval.plotting import plot_samples


def save_samples(
    run, num: int, output: str, seed: int = 0, use_ema: bool = True, batch_size: int = 1000
) -> np.ndarray:
    """Draws `num` series from a trained run; writes `output` (.npz) and a PNG beside it.

    Args:
      run: an `ldx.train.Run` (loaded, or `run_from_state` after training).
      num: N, the series drawn.
      output: the .npz path.
      seed: the sampling key is `jax.random.key(seed)`.
      use_ema: draw with the EMA parameters.
      batch_size: series per compiled call.

    Returns:
      the normalised samples [N, T, D]. The npz holds `samples` in the data's original units
      and `samples_normalized` in the [0, 1] training scale.
    """
    exp = run.experiment
    fn = make_generate_fn(run.model_fn, exp.generate)
    fake = draw(fn, run.params(use_ema), jax.random.key(seed), num, batch_size)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = output + ".tmp.npz"
    np.savez(tmp, samples=exp.dataset.scaler.inverse_transform(fake), samples_normalized=fake)
    os.replace(tmp, output)
    plot_samples(exp.dataset.test, fake, os.path.splitext(output)[0] + ".png")
    return fake
