"""Writing a trained run's samples: an .npz in data and normalised units, and a PNG beside it.

Shapes follow ldx/shapes.py.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from ldx.batching import draw, make_generate_fn
from ldx.errors import NonFiniteSamples, check_writable
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

    Raises:
      LdxError: `output` cannot be written (checked before drawing).
      NonFiniteSamples: any series holds NaN or Inf (in either unit); nothing is written.
    """
    check_writable(output)  # before the long part, not after it
    exp = run.experiment
    fn = make_generate_fn(run.model_fn, exp.generate)
    scaler = exp.dataset.scaler
    fake = scaler.expand(draw(fn, run.params(use_ema), jax.random.key(seed), num, batch_size))
    samples = scaler.inverse_transform(fake)  # [N, T, D], data units
    check_finite(fake, f"{run.workdir}: the model", "nothing written")
    check_finite(samples, f"{run.workdir}: in data units, the model", "nothing written")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    write_npz(output, samples=samples, samples_normalized=fake)
    plot_samples(scaler.expand(exp.dataset.test), fake, os.path.splitext(output)[0] + ".png")
    return fake


def check_finite(samples: np.ndarray, source: str, consequence: str) -> None:
    """Raises NonFiniteSamples saying how many of the N series hold NaN or Inf.

    Args:
      samples: generated series. # [N, T, D]
      source: who generated them, to start the message (e.g. "<workdir>: the model").
      consequence: what follows, to end the message (e.g. "nothing written").
    """
    finite = np.isfinite(samples)
    bad = ~finite.reshape(len(samples), -1).all(axis=1)  # [N]
    if bad.any():
        raise NonFiniteSamples(
            f"{source} generated {int(bad.sum())} of {len(samples)} series with non-finite "
            f"values ({int((~finite).sum())} NaN/Inf value(s)); {consequence}."
        )


def write_npz(path: str, **arrays) -> None:
    """np.savez atomically: a temporary file beside `path`, then a rename; a failed write (a
    full disk) leaves neither a partial file nor the temporary one."""
    tmp = path + ".tmp.npz"
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
