"""Neural Latents Benchmark tensors: MC_Maze_Small (monkey reaching, 5 ms bins).

Shapes (ldx/shapes.py): N trials, T bins (140), D neurons (142 = 107 held-in + 35 held-out).

The file `mc_maze_small/train.npz` holds `encoder_input` (held-in spikes), `heldout_target`
(held-out spikes), `full_target` (both, held-in first) and `extra__behavior` (hand velocity).
The `eval.npz` held-out neurons are the benchmark's hidden answers, so ldx trains and scores on
a local split of the 75 training trials.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ldx.errors import DataError

MC_MAZE_SMALL = "mc_maze_small/train.npz"
_KEYS = ("encoder_input", "heldout_target", "extra__behavior")


@dataclasses.dataclass(frozen=True)
class NLBData:
    """One NLB split.

    Attributes:
      spikes: spike counts, held-in neurons first, then held-out. # [N, T, D]
      num_heldin: number of held-in neurons (the leading columns of `spikes`).
      behavior: hand velocity. # [N, T, 2]
    """

    spikes: np.ndarray
    num_heldin: int
    behavior: np.ndarray


def load_nlb(path: str) -> NLBData:
    """Reads an NLB `.npz` (train split) and checks its arrays.

    Args:
      path: e.g. `<data_dir>/mc_maze_small/train.npz`.

    Returns:
      the spikes (held-in then held-out neurons), the held-in count and the hand velocity.
    """
    if not os.path.isfile(path):
        raise DataError(
            f"NLB file not found: {path!r}. Download it with `python -m launch.data "
            "--name=mc_maze`, or set config.data.path, config.data.data_dir or LDX_DATA_DIR to "
            "the folder holding mc_maze_small/train.npz."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {missing}; found {sorted(f.files)}")
            heldin, heldout, behavior = (np.asarray(f[k], np.float32) for k in _KEYS)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: cannot read as an .npz archive ({e})") from e
    if heldin.ndim != 3 or heldout.shape[:2] != heldin.shape[:2] or behavior.ndim != 3:
        raise DataError(
            f"{path}: shapes encoder_input {heldin.shape}, heldout_target {heldout.shape}, "
            f"extra__behavior {behavior.shape}; expected [N, T, *] with equal N and T"
        )
    spikes = np.concatenate([heldin, heldout], axis=-1)  # [N, T, D]
    for name, x in (("spikes", spikes), ("extra__behavior", behavior)):
        if not np.isfinite(x).all():
            raise DataError(f"{path}: {name} holds NaN/Inf values, expected finite numbers")
    return NLBData(spikes=spikes, num_heldin=heldin.shape[-1], behavior=behavior)
