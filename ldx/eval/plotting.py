"""Matplotlib figures written to PNG files (Agg backend, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_samples(
    real: np.ndarray, fake: np.ndarray, path: str, num: int = 4, max_features: int = 3
) -> None:
    """Saves a grid: `num` real windows (top row) above `num` generated ones (bottom row).

    Args:
      real: real windows [N, T, D].
      fake: generated windows [M, T, D].
      path: output PNG.
      num: windows per row.
      max_features: features drawn per window.
    """
    num = min(num, len(real), len(fake))
    fig, axes = plt.subplots(2, num, figsize=(3 * num, 4.5), sharey=True, squeeze=False)
    for row, (data, name) in enumerate(((real, "real"), (fake, "generated"))):
        for col in range(num):
            ax = axes[row, col]
            ax.plot(data[col, :, :max_features])
            ax.set_title(f"{name} #{col}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
