"""The samples figure: per-feature panels clipped to the real range, legends, count rasters."""

import numpy as np
import pytest

from ldx.eval.plotting import (
    GENERATED,
    MAX_FEATURES,
    REAL,
    axis_range,
    is_counts,
    plot_samples,
    plt,
    samples_figure,
)


def _brute_outside(real, fake, margin=0.05):
    """Per feature: (lo, hi, count of fake values outside), one value at a time."""
    out = []
    for j in range(real.shape[-1]):
        values = [float(v) for v in real[:, :, j].ravel()]
        low, high = min(values), max(values)
        pad = margin * (high - low) if high > low else 0.5
        lo, hi = low - pad, high + pad
        count = 0
        for v in fake[:, :, j].ravel():
            count += int(v < lo or v > hi)
        out.append((lo, hi, count))
    return out


@pytest.fixture
def windows():
    rng = np.random.default_rng(0)
    real = rng.uniform(0, 1, (30, 12, 15))  # [N, T, D]
    fake = rng.normal(0.5, 0.4, (40, 12, 15))  # [M, T, D], some values beyond [0, 1]
    fake[0, 0, 3] = 50.0  # one wild value
    real[:, :, 7] = 0.25  # a constant feature
    return real, fake


def test_axis_range_matches_a_brute_force_count(windows):
    # Given real and generated windows; then the limits and out-of-range counts equal a count
    # made value by value, constant features included.
    real, fake = windows
    lo, hi, outside = axis_range(real, fake)
    expected = _brute_outside(real, fake)
    np.testing.assert_allclose(lo, [e[0] for e in expected])
    np.testing.assert_allclose(hi, [e[1] for e in expected])
    assert outside.tolist() == [e[2] for e in expected]
    assert outside[3] >= 1 and outside.sum() > 0


def test_samples_figure_has_a_panel_per_feature_a_legend_and_clipped_axes(windows):
    # Given 15 features; then the first MAX_FEATURES get a panel each with 5 real and 5
    # generated lines, y-limits at the real range +-5% and the brute-force count in the title;
    # the others are noted; the legend names real and generated in their line colours.
    real, fake = windows
    fig = samples_figure(real, fake, num=5)
    try:
        panels = [ax for ax in fig.axes if ax.lines]
        assert len(panels) == MAX_FEATURES == 12
        expected = _brute_outside(real, fake)
        for j, ax in enumerate(panels):
            colors = [line.get_color() for line in ax.lines]
            assert colors.count(REAL) == 5 and colors.count(GENERATED) == 5
            np.testing.assert_allclose(ax.get_ylim(), expected[j][:2])
            assert ax.get_title().startswith(f"feature {j}: {expected[j][2]}/{40 * 12} ")
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == ["real (test)", "generated"]
        assert [h.get_color() for h in legend.legend_handles] == [REAL, GENERATED]
        assert "features 0-11 of 15" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_count_data_is_drawn_as_rasters_with_rates():
    # Given spike counts; then the figure is 3 real and 3 generated rasters (neurons x time,
    # the windows themselves) and a per-neuron rate panel whose points are the mean counts.
    rng = np.random.default_rng(1)
    real = rng.poisson(0.3, (10, 20, 6)).astype(np.float32)  # [N, T, D]
    fake = rng.poisson(0.5, (8, 20, 6)).astype(np.float32)  # [M, T, D]
    assert is_counts(real) and not is_counts(real + 0.5) and not is_counts(real - 1)
    fig = samples_figure(real, fake)
    try:
        rasters = [ax for ax in fig.axes if ax.images]
        assert len(rasters) == 6
        for i, ax in enumerate(rasters[:3]):
            np.testing.assert_array_equal(ax.images[0].get_array(), real[i].T)
        for i, ax in enumerate(rasters[3:]):
            np.testing.assert_array_equal(ax.images[0].get_array(), fake[i].T)
        (rates,) = [ax for ax in fig.axes if ax.get_title() == "per-neuron rates"]
        points = rates.collections[0].get_offsets()
        for d in range(6):
            assert points[d][0] == pytest.approx(
                np.mean([real[n, t, d] for n in range(10) for t in range(20)])
            )
            assert points[d][1] == pytest.approx(
                np.mean([fake[n, t, d] for n in range(8) for t in range(20)])
            )
    finally:
        plt.close(fig)


def test_plot_samples_writes_a_png(windows, tmp_path):
    real, fake = windows
    path = tmp_path / "s.png"
    plot_samples(real[:, :, :3], fake[:, :, :3], str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
