"""Small PNG figures for LDIDP: true vs recovered latents (rasters: ldx/eval/plotting.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_latents(true: np.ndarray, recovered: np.ndarray, path: str, num: int = 4) -> None:
    """Windows of true latents beside the affinely aligned inferred ones.

    Args:
      true: true latents. # [N, T, L]
      recovered: inferred latents after the affine map. # [N, T, L]
      path: output PNG.
      num: windows drawn.
    """
    num = min(num, len(true))
    two_d = true.shape[-1] == 2
    fig, axes = plt.subplots(1, num, figsize=(2.6 * num, 2.6), squeeze=False)
    for i, ax in enumerate(axes[0]):
        if two_d:  # a spiral: the path in the plane
            ax.plot(true[i, :, 0], true[i, :, 1], "k-", lw=1.5, label="true")
            ax.plot(recovered[i, :, 0], recovered[i, :, 1], "r--", lw=1.2, label="recovered")
        else:  # each coordinate over time
            for j in range(true.shape[-1]):
                ax.plot(true[i, :, j], "k-", lw=1.2)
                ax.plot(recovered[i, :, j], "r--", lw=1.0)
        ax.set_title(f"test window {i}", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(["true", "recovered"], fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
