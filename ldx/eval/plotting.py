"""Matplotlib figures written to PNG files (Agg backend, no display needed).

`plot_samples` is the figure of a run's samples beside real windows (`samples.png` of training,
launch.sample and launch.evaluate): every feature (up to MAX_FEATURES) as its own panel with
real and generated windows on the same axes, or spike rasters for count data. Shapes follow
ldx/shapes.py.
"""

from __future__ import annotations

import math

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

MAX_FEATURES = 12  # panels of the samples figure; a note says when features are left out
REAL, GENERATED = "tab:red", "tab:blue"  # the colours of every real-vs-generated figure


def is_counts(x: np.ndarray) -> bool:
    """Whether windows hold counts (non-negative integers, e.g. binned spikes)."""
    return bool(np.all(x >= 0) and np.all(x == np.round(x)))


def axis_range(
    real: np.ndarray, fake: np.ndarray, margin: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature y-limits of the samples figure and the generated values beyond them.

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      margin: share of the real range added on each side.

    Returns:
      (lo [D], hi [D], outside [D]): the real range widened by `margin` (by 0.5 either side
      for a constant feature), and how many of fake's M * T values of each feature lie outside.
    """
    rmin, rmax = real.min(axis=(0, 1)), real.max(axis=(0, 1))  # [D]
    pad = np.where(rmax > rmin, margin * (rmax - rmin), 0.5)  # [D]
    lo, hi = rmin - pad, rmax + pad
    outside = ((fake < lo) | (fake > hi)).sum(axis=(0, 1))  # [D]
    return lo, hi, outside


def samples_figure(real: np.ndarray, fake: np.ndarray, num: int = 5) -> plt.Figure:
    """Real and generated windows, one panel per feature (spike rasters for count data).

    Each panel draws `num` real and `num` generated windows of one feature on the same axes,
    clipped to the real range (+-5%); its title counts the generated values (of all M windows)
    beyond that range. At most MAX_FEATURES features are drawn, with a note when there are more.

    Args:
      real: real windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      num: windows of each set drawn per panel.
    """
    if is_counts(real):
        return raster_figure(real, fake)
    num = min(num, len(real), len(fake))
    d = real.shape[-1]
    shown = min(d, MAX_FEATURES)
    cols = min(shown, 4)
    rows = math.ceil(shown / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.2 * rows + 0.8), squeeze=False, layout="constrained"
    )
    lo, hi, outside = axis_range(real, fake)
    values = fake.shape[0] * fake.shape[1]
    for j, ax in enumerate(axes.flat):
        if j >= shown:
            ax.set_axis_off()
            continue
        ax.plot(real[:num, :, j].T, color=REAL, lw=1.0, alpha=0.7)
        ax.plot(fake[:num, :, j].T, color=GENERATED, lw=1.0, alpha=0.7)
        ax.set_ylim(lo[j], hi[j])
        share = 100 * outside[j] / values
        ax.set_title(
            f"feature {j}: {outside[j]}/{values} generated off-axis ({share:.1f}%)", fontsize=8
        )
        ax.tick_params(labelsize=7)
        if j >= shown - cols:  # the bottom panel of its column
            ax.set_xlabel("t", fontsize=7)
    note = f"; features 0-{shown - 1} of {d}" if d > shown else ""
    fig.suptitle(
        f"{num} real (test) and {num} generated windows per feature; y-axis: the real range "
        f"+-5% over all {len(real)} real windows{note}",
        fontsize=9,
        x=0.01,
        ha="left",
    )
    handles = [Line2D([], [], color=c) for c in (REAL, GENERATED)]
    fig.legend(handles, ["real (test)", "generated"], loc="outside upper right", ncol=2, fontsize=8)
    return fig


def raster_figure(real: np.ndarray, generated: np.ndarray, num: int = 3) -> plt.Figure:
    """Count rasters (neurons x time) of real windows above generated ones, and beside them
    each neuron's mean count per bin, generated against real (over all windows).

    Args:
      real: real windows. # [N, T, D]
      generated: generated windows. # [M, T, D]
      num: windows per row.
    """
    num = min(num, len(real), len(generated))
    vmax = max(float(np.percentile(real, 99.5)), 1.0)
    mosaic = [[f"real{i}" for i in range(num)] + ["rates"]]
    mosaic += [[f"generated{i}" for i in range(num)] + ["rates"]]
    fig, axes = plt.subplot_mosaic(
        mosaic, figsize=(2.8 * num + 3.8, 4.8), layout="constrained", width_ratios=[1] * num + [1.3]
    )
    for name, data, label in (
        ("real", real, "real (test)"),
        ("generated", generated, "generated"),
    ):
        for i in range(num):
            ax = axes[f"{name}{i}"]
            image = ax.imshow(
                data[i].T, aspect="auto", cmap="Greys", vmin=0, vmax=vmax, interpolation="nearest"
            )
            ax.set_title(f"{label} #{i}", fontsize=8)
            ax.set_xlabel("bin", fontsize=7)
            ax.set_ylabel("neuron", fontsize=7)
            ax.tick_params(labelsize=6)
    bar = fig.colorbar(image, ax=[axes[f"generated{i}"] for i in range(num)], shrink=0.8)
    bar.set_label("count", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    bar.ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax = axes["rates"]
    rate_real, rate_gen = real.mean(axis=(0, 1)), generated.mean(axis=(0, 1))  # [D]
    top = 1.05 * max(rate_real.max(), rate_gen.max(), 1e-3)
    ax.plot([0, top], [0, top], color="0.6", lw=0.8, label="equal")
    ax.scatter(rate_real, rate_gen, s=10, color=GENERATED, label="one neuron")
    ax.set(xlim=(0, top), ylim=(0, top))
    ax.set_xlabel("real mean count per bin", fontsize=7)
    ax.set_ylabel("generated mean count per bin", fontsize=7)
    ax.set_title("per-neuron rates", fontsize=8)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"spike counts; mean per bin over all windows: real {real.mean():.3f}, "
        f"generated {generated.mean():.3f}",
        fontsize=9,
    )
    return fig


def plot_samples(real: np.ndarray, fake: np.ndarray, path: str) -> None:
    """Saves `samples_figure(real, fake)` as a PNG at `path`."""
    _save(samples_figure(real, fake), path)


def plot_rasters(real: np.ndarray, generated: np.ndarray, path: str, num: int = 3) -> None:
    """Saves `raster_figure(real, generated, num)` as a PNG at `path`."""
    _save(raster_figure(real, generated, num), path)


def _save(fig: plt.Figure, path: str) -> None:
    fig.savefig(path, dpi=100)
    plt.close(fig)
