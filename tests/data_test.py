"""Tests of ldx.data: sources, windows, scaling, splits and stateless batches."""

import dataclasses
import math
import re

import numpy as np
import pytest

from ldx import data
from ldx.data import DataError


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------------------------------------
# Sources.


def test_sines_matches_scalar_formula():
    """Given a seed, when generating Sines, then values equal a scalar loop over the same draws."""
    n, t, d, seed = 7, 24, 3, 5
    x = data.sines(n, t, d, seed)  # [N, T, D]
    rng = np.random.default_rng(seed)  # Documented draw order: all freqs, then all phases.
    freq, phase = rng.uniform(0, 0.1, (n, d)), rng.uniform(0, 0.1, (n, d))
    for s in (0, n - 1):
        expected = [
            [(math.sin(freq[s, k] * i + phase[s, k]) + 1) / 2 for k in range(d)] for i in range(t)
        ]
        np.testing.assert_allclose(x[s], expected, rtol=0, atol=1e-6)
    # The data alone recover a phase and frequency in U(0, 0.1) that reproduce the sample.
    p = np.arcsin(2 * x[0, 0].astype(np.float64) - 1)  # [D]
    f = np.arcsin(2 * x[0, 1].astype(np.float64) - 1) - p  # [D]
    assert np.all((0 <= p) & (p <= 0.1) & (0 <= f) & (f <= 0.1))
    refit = (np.sin(f * np.arange(t)[:, None] + p) + 1) / 2  # [T, D]
    np.testing.assert_allclose(x[0], refit, atol=1e-4)


def test_sines_shape_range_and_determinism():
    """Given seeds, when generating, then [N, T, D] float32 in [0, 1], equal iff same seed."""
    a, b, c = data.sines(50, 24, 5, 0), data.sines(50, 24, 5, 0), data.sines(50, 24, 5, 1)
    assert a.shape == (50, 24, 5) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_load_csv_header_and_drop_columns(tmp_path):
    """Given a CSV with a header and a date column, when loaded dropping column 0, then numbers."""
    path = _write(tmp_path, "x.csv", "date,a,b\n2020-01-01,1,2.5\n2020-01-02,3,-4e1\n")
    np.testing.assert_array_equal(data.load_csv(path, drop_columns=(0,)), [[1, 2.5], [3, -40]])
    headless = _write(tmp_path, "y.csv", "1,2\n3,4\n")
    np.testing.assert_array_equal(data.load_csv(headless), [[1, 2], [3, 4]])


def test_load_npy_and_mat(tmp_path):
    """Given rank-2/3 .npy and a .mat, when loaded, then the same values as float32."""
    import scipy.io

    for shape in ((6, 2), (4, 3, 2)):
        x = np.arange(np.prod(shape), dtype=np.int64).reshape(shape)
        np.save(tmp_path / "x.npy", x)
        got = data.load_source("npy", str(tmp_path / "x.npy"))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, x)
    x = np.random.default_rng(0).normal(size=(5, 3))
    scipy.io.savemat(tmp_path / "x.mat", {"ts": x, "other": np.ones(2)})
    np.testing.assert_allclose(data.load_mat(str(tmp_path / "x.mat")), x, rtol=1e-6)
    with pytest.raises(DataError, match=r"no variable 'nope'.*\['other', 'ts'\]"):
        data.load_mat(str(tmp_path / "x.mat"), key="nope")


@pytest.mark.parametrize(
    "name,shape",
    [("stocks", (3685, 6)), ("energy", (19735, 28)), ("etth1", (17420, 7)), ("fmri", (10000, 50))],
)
def test_real_datasets_load(name, shape):
    """Given the shared data folder, when a named dataset loads, then its shape and first row."""
    if not data.dataset_available(name):
        pytest.skip(f"{name}: {data.dataset_path(name)} not found (set LDX_DATA_DIR)")
    x = data.load_source(name)
    assert x.shape == shape and x.dtype == np.float32 and np.isfinite(x).all()
    if name != "fmri":  # Compare the first data row with a plain text parse of line 2.
        with open(data.dataset_path(name)) as f:
            cells = f.readlines()[1].strip().split(",")[1 if name == "etth1" else 0 :]
        np.testing.assert_allclose(x[0], [float(c) for c in cells], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Windows, scaling, time shuffle.


@pytest.mark.parametrize("stride", [1, 3])
def test_make_windows_matches_loop(stride):
    """Given a series, when windowed, then windows equal a Python-loop construction."""
    series = np.random.default_rng(0).normal(size=(30, 4))  # [N, D]
    w = data.make_windows(series, 7, stride)  # [W, T, D]
    expected = np.stack([series[i : i + 7] for i in range(0, 30 - 7 + 1, stride)])
    assert w.flags.c_contiguous and w.dtype == np.float32
    np.testing.assert_array_equal(w, expected.astype(np.float32))


def test_scaler_round_trip_and_constant_feature():
    """Given data with a constant feature, when scaled, then [0, 1], constant -> 0, invertible."""
    x = np.random.default_rng(0).normal(size=(10, 6, 3)) * [1, 100, 0] + [0, 5, 7]  # [N, T, D]
    scaler = data.MinMaxScaler.fit(x)
    y = scaler.transform(x)
    np.testing.assert_array_equal(y.min(axis=(0, 1)), [0, 0, 0])
    np.testing.assert_array_equal(y.max(axis=(0, 1)), [1, 1, 0])
    lo, hi = x[..., 1].min(), x[..., 1].max()
    np.testing.assert_allclose(y[..., 1], (x[..., 1] - lo) / (hi - lo), atol=1e-6)
    np.testing.assert_allclose(scaler.inverse_transform(y), x, rtol=1e-5, atol=1e-4)
    assert scaler.keep is None and scaler.expand(y) is y  # no dependent columns: as is
    np.testing.assert_array_equal(scaler.transform(x[0]), y[0])  # Any leading shape.


def _dependent_columns(rows=500, seed=0):
    """Four independent columns, then (by construction) a copy of column 1, the affine
    combination 2 x0 - x3 + 5, a constant, and x2 plus noise of 1% of its spread. # [rows, 8]"""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4)) * [1.0, 3.0, 0.5, 2.0] + [0.0, 100.0, -2.0, 7.0]
    extra = [
        x[:, 1],
        2 * x[:, 0] - x[:, 3] + 5,
        np.full(rows, 4.0),
        x[:, 2] + 0.005 * rng.normal(size=rows),
    ]
    return np.column_stack([x, *extra])


def test_column_basis_finds_exact_dependencies_only():
    """Given columns 4 (a copy) and 5 (an affine combination) that earlier ones give exactly,
    a constant and a near copy with 1% independent noise; then only 4 and 5 are dropped, and
    `fill` holds the coefficients they were built with."""
    x = _dependent_columns()
    z = (x - x.min(0)) / np.where(np.ptp(x, 0) > 0, np.ptp(x, 0), 1)  # min-max, by hand
    keep, fill = data.column_basis(z)
    np.testing.assert_array_equal(keep, [0, 1, 2, 3, 6, 7])
    np.testing.assert_allclose(z[:, keep] @ fill[:-1] + fill[-1], z[:, [4, 5]], atol=1e-9)
    lo, span = x.min(0), np.ptp(x, 0)
    # The copy: z4 = z1 exactly (same column, same scaling).
    np.testing.assert_allclose(fill[:, 0], [0, 1, 0, 0, 0, 0, 0], atol=1e-9)
    # x5 = 2 x0 - x3 + 5 in normalised units: z5 = (2 span0 z0 - span3 z3 + c) / span5.
    c = 2 * lo[0] - lo[3] + 5 - lo[5]
    expected = np.array([2 * span[0], 0, 0, -span[3], 0, 0, c]) / span[5]
    np.testing.assert_allclose(fill[:, 1], expected, atol=1e-9)
    # Full-rank data: everything kept, nothing to fill.
    keep, fill = data.column_basis(z[:, :4])
    np.testing.assert_array_equal(keep, [0, 1, 2, 3])
    assert fill.shape == (5, 0)


def test_scaler_with_dependent_columns_round_trips_every_column():
    """Given float32 windows with a copy and an affine combination; when fitted with
    drop_dependent, then the model sees 6 of 8 features and inverse_transform gives back all 8
    in data units; without dependent columns the scaler equals the plain one bit for bit."""
    x = _dependent_columns(480).reshape(20, 24, 8).astype(np.float32)  # [N, T, D]
    scaler = data.MinMaxScaler.fit(x, drop_dependent=True)
    y = scaler.transform(x)  # [N, T, 6]
    assert y.shape == (20, 24, 6) and y.dtype == np.float32 and scaler.dim == 8
    np.testing.assert_allclose(scaler.inverse_transform(y), x, rtol=1e-5, atol=1e-3)
    full = scaler.expand(y)  # [N, T, 8]
    np.testing.assert_array_equal(scaler.expand(full), full)  # already full: unchanged
    np.testing.assert_array_equal(scaler.select(full), y)
    plain = data.MinMaxScaler.fit(x[..., :4])
    tied = data.MinMaxScaler.fit(x[..., :4], drop_dependent=True)
    assert tied.keep is None
    np.testing.assert_array_equal(tied.transform(x[..., :4]), plain.transform(x[..., :4]))
    np.testing.assert_array_equal(
        tied.inverse_transform(y[..., :4]), plain.inverse_transform(y[..., :4])
    )


def test_tie_projection_restores_dependent_columns_of_any_rows():
    """Given the columns of `_dependent_columns` (normalised); then x P + c equals x on those rows
    (the dependent columns already agree), and on rows that break the dependencies it keeps the
    independent columns and sets the copy and the combination from them; full rank: None."""
    x = _dependent_columns()
    z = (x - x.min(0)) / np.where(np.ptp(x, 0) > 0, np.ptp(x, 0), 1)
    p, c = data.tie_projection(z)
    np.testing.assert_allclose(z @ p + c, z, atol=1e-5)
    broken = np.random.default_rng(1).uniform(size=(50, 8))
    tied = broken @ p + c
    np.testing.assert_array_equal(tied[:, [0, 1, 2, 3, 6, 7]], broken[:, [0, 1, 2, 3, 6, 7]])
    keep, fill = data.column_basis(z)
    np.testing.assert_allclose(tied[:, [4, 5]], broken[:, keep] @ fill[:-1] + fill[-1], atol=1e-5)
    assert data.tie_projection(z[:, :4]) is None


def test_build_dataset_models_a_duplicated_csv_column_once(tmp_path):
    """Given a CSV whose third column copies the first; then with drop_dependent the model's
    windows hold 2 features (3 by default) and the scaler restores the copy."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 60))
    text = "a,b,c\n" + "".join(f"{u:.17g},{v:.17g},{u:.17g}\n" for u, v in zip(a, b))
    path = _write(tmp_path, "dup.csv", text)
    cfg = data.DataConfig(name="csv", path=path, seq_len=8, drop_dependent=True)
    dataset = data.build_dataset(cfg)
    assert dataset.dim == 2 and dataset.scaler.dim == 3
    restored = dataset.scaler.inverse_transform(dataset.train)  # [Ntr, 8, 3]
    np.testing.assert_allclose(restored[..., 2], restored[..., 0], atol=1e-5)
    kept = data.build_dataset(dataclasses.replace(cfg, drop_dependent=False))
    assert kept.dim == 3
    np.testing.assert_allclose(dataset.scaler.expand(dataset.train), kept.train, atol=1e-6)


def test_shuffle_time_permutes_rows_within_windows():
    """Given windows, when time-shuffled, then each window keeps its rows but in a new order."""
    w = np.random.default_rng(0).normal(size=(20, 24, 3)).astype(np.float32)  # [W, T, D]
    s = data.shuffle_time(w, seed=1)
    for a, b in zip(w, s):  # Same multiset of rows: compare rows sorted lexicographically.
        np.testing.assert_array_equal(a[np.lexsort(a.T)], b[np.lexsort(b.T)])
    assert all(not np.array_equal(a, b) for a, b in zip(w, s))
    np.testing.assert_array_equal(s, data.shuffle_time(w, seed=1))
    assert not np.array_equal(s, data.shuffle_time(w, seed=2))


# ---------------------------------------------------------------------------------------------
# Datasets.


def test_build_dataset_random_split_scales_on_train(tmp_path):
    """Given a CSV series, when built with a random split, then train/test partition the windows
    and train is min-max scaled with its own statistics."""
    series = np.random.default_rng(0).normal(size=(50, 2)) * [1, 10]  # [N, D]
    text = "a,b\n" + "\n".join(f"{u!r},{v!r}" for u, v in series.tolist())
    path = _write(tmp_path, "s.csv", text)
    cfg = data.DataConfig(name="csv", path=path, seq_len=5, train_fraction=0.75, seed=3)
    ds = data.build_dataset(cfg)
    assert (len(ds.train), len(ds.test), ds.seq_len, ds.dim) == (34, 12, 5, 2)  # floor(46 * 0.75).
    np.testing.assert_array_equal(ds.train.min(axis=(0, 1)), [0, 0])
    np.testing.assert_array_equal(ds.train.max(axis=(0, 1)), [1, 1])
    raw = ds.scaler.inverse_transform(np.concatenate([ds.train, ds.test]))  # [W, T, D]
    windows = np.stack([series[i : i + 5] for i in range(46)])  # Every window exactly once.
    order = lambda w: np.argsort(w[:, 0, 0])  # noqa: E731 - window start values are distinct.
    np.testing.assert_allclose(raw[order(raw)], windows[order(windows)], atol=1e-4)
    again = data.build_dataset(cfg)
    np.testing.assert_array_equal(again.train, ds.train)


def test_build_dataset_chronological_and_shuffled(tmp_path):
    """Given a series, when split chronologically with shuffle_time, then train holds the first
    rows' windows (time-shuffled) and test the last rows'."""
    series = np.arange(40, dtype=np.float64)[:, None] * [1, 2]  # [N, D]
    np.save(tmp_path / "s.npy", series)
    cfg = data.DataConfig(
        name="npy",
        path=str(tmp_path / "s.npy"),
        seq_len=4,
        split="chronological",
        train_fraction=0.5,
        shuffle_time=True,
    )
    ds = data.build_dataset(cfg)
    train = ds.scaler.inverse_transform(np.sort(ds.train, axis=1))  # Undo the time shuffle.
    np.testing.assert_allclose(train, data.make_windows(series[:20], 4), atol=1e-4)
    np.testing.assert_allclose(
        ds.scaler.inverse_transform(np.sort(ds.test, axis=1)),
        data.make_windows(series[20:], 4),
        atol=1e-4,
    )
    assert not np.array_equal(ds.train, np.sort(ds.train, axis=1))


def test_build_dataset_sines_windows():
    """Given sines, when built, then windows are split without re-windowing and rescaled."""
    cfg = data.DataConfig(num_samples=100, dim=2, seq_len=8)
    ds = data.build_dataset(cfg)
    assert ds.train.shape == (80, 8, 2) and ds.test.shape == (20, 8, 2)
    raw = data.sines(100, 8, 2, 0)
    perm = np.random.default_rng([0, 0]).permutation(100)
    np.testing.assert_allclose(ds.scaler.inverse_transform(ds.train), raw[perm[:80]], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Batches.


def test_batch_indices_epochs_cover_every_example():
    """Given B dividing N, when an epoch of steps is concatenated, then each index appears once
    and the epoch equals the documented permutation."""
    n, b, seed = 12, 4, 7
    for epoch in range(3):
        idx = np.concatenate(
            [data.batch_indices(n, b, s, seed) for s in range(epoch * 3, epoch * 3 + 3)]
        )
        np.testing.assert_array_equal(np.sort(idx), np.arange(n))
        np.testing.assert_array_equal(idx, np.random.default_rng([seed, epoch]).permutation(n))


@pytest.mark.parametrize("n,b", [(10, 4), (5, 12), (7, 7)])
def test_batch_indices_straddle_and_resume(n, b):
    """Given any N, B, when a step is recomputed fresh (after clearing the cache), then it equals
    the same positions of the concatenated epoch stream."""
    seed, steps = 3, 6
    stream = np.concatenate(
        [np.random.default_rng([seed, e]).permutation(n) for e in range(steps * b // n + 2)]
    )
    got = [data.batch_indices(n, b, s, seed) for s in range(steps)]
    data.pipeline._epoch_permutation.cache_clear()  # As if a resumed process.
    for s in reversed(range(steps)):
        np.testing.assert_array_equal(stream[s * b : (s + 1) * b], got[s])
        np.testing.assert_array_equal(data.batch_indices(n, b, s, seed), got[s])
    assert not np.array_equal(got[0], data.batch_indices(n, b, 0, seed + 1))


def test_get_batch_gathers_rows():
    """Given windows, when batched, then the batch is the windows at batch_indices."""
    x = np.random.default_rng(0).normal(size=(9, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(data.get_batch(x, 4, 5, 1), x[data.batch_indices(9, 4, 5, 1)])


# ---------------------------------------------------------------------------------------------
# Bad input.


BAD_CSV = {
    "non_numeric": ("a,b\n1,2\n3,abc\n", r"non-numeric cell 'abc' at row 3, column 'b'"),
    "nan": ("a,b\n1,2\n3,nan\n", r"non-finite value nan at row 3, column 'b'; 1 value"),
    "inf": ("1,inf\n3,4\n", r"non-finite value inf at row 1, column '1'"),
    "empty": ("", r"empty CSV file \(0 bytes\)"),
    "blank": ("\n \n", r"empty CSV file, expected rows of numbers"),
    "header_only": ("a,b\n", r"no data rows"),
    "ragged": ("a,b\n1,2\n3\n", r"row 3 has 1 columns, expected 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv(tmp_path, case):
    """Given a malformed CSV, when loaded, then DataError names the problem and the file."""
    text, pattern = BAD_CSV[case]
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=pattern) as e:
        data.load_source("csv", path)
    assert "bad.csv" in str(e.value)


def test_csv_drop_every_column(tmp_path):
    """Given a one-column CSV, when its only column is dropped, then DataError."""
    with pytest.raises(DataError, match="no column left"):
        data.load_csv(_write(tmp_path, "x.csv", "1\n2\n"), drop_columns=(0,))


@pytest.mark.parametrize(
    "array,pattern",
    [
        (np.array([[1.0, np.nan]]), r"non-finite value nan"),
        (np.array([[1.0], [-np.inf]]), r"non-finite value -inf"),
        (np.zeros((2, 2, 2, 2)), r"shape \(2, 2, 2, 2\) \(rank 4\)"),
        (np.zeros(3), r"shape \(3,\) \(rank 1\)"),
        (np.array([["a", "b"]]), r"dtype <U1 is not numeric"),
        (np.zeros((200, 0)), r"array of shape \(200, 0\) holds no values"),
        (np.zeros((2, 0, 3)), r"array of shape \(2, 0, 3\) holds no values"),
    ],
)
def test_bad_npy(tmp_path, array, pattern):
    """Given a bad .npy, when loaded, then DataError names the value or shape."""
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(DataError, match=pattern):
        data.load_npy(str(tmp_path / "x.npy"))


@pytest.mark.parametrize(
    "call,pattern",
    [
        (
            lambda: data.load_source("stocks", "/nonexistent/s.csv"),
            r"not found: '/nonexistent/s.csv'.*config.data.path.*LDX_DATA_DIR",
        ),
        (lambda: data.load_source("npy", "/nonexistent/x.npy"), r"NPY file not found"),
        (lambda: data.load_source("etth1", data_dir="/nonexistent"), r"etth1/ETTh1.csv"),
        (lambda: data.load_source("mnist"), r"unknown dataset name 'mnist'.*'sines'.*'npy'"),
        (lambda: data.load_source("csv"), r"'csv' needs a path.*config.data.path"),
        (lambda: data.make_windows(np.zeros((5, 2)), 24), r"length 5 .* seq_len=24"),
        (lambda: data.make_windows(np.zeros((5, 2)), 0), r"seq_len=0"),
        (lambda: data.DataConfig(split="sideways"), r"data.split='sideways'.*chronological"),
        (lambda: data.DataConfig(seq_len=1), r"data.seq_len=1"),
        (lambda: data.DataConfig(train_fraction=1.0), r"train_fraction=1.0"),
        (lambda: data.DataConfig(name="mnist"), r"data.name='mnist'"),
        (lambda: data.batch_indices(10, 0, 0, 0), r"batch_size=0"),
        (
            lambda: data.build_dataset(data.DataConfig(num_samples=1, seq_len=4)),
            r"1 window\(s\).*expected >= 1 each",
        ),
    ],
)
def test_bad_arguments(call, pattern):
    """Given a bad name, path or setting, when used, then DataError says what was expected."""
    with pytest.raises(DataError, match=pattern):
        call()


def test_chronological_test_part_shorter_than_window(tmp_path):
    """Given a short series, when the chronological test part is under seq_len, then DataError."""
    np.save(tmp_path / "s.npy", np.zeros((30, 2)))
    cfg = data.DataConfig(
        name="npy",
        path=str(tmp_path / "s.npy"),
        seq_len=10,
        split="chronological",
        train_fraction=0.8,
    )
    with pytest.raises(DataError, match=r"chronological test split .* 6 rows .* seq_len=10"):
        data.build_dataset(cfg)


@pytest.mark.parametrize(
    "value, ok",
    [(3.0e38, True), (-3.4028234e38, True), (3.5e38, False), (-1e39, False), (1e300, False)],
)
def test_values_must_be_finite_in_float32(tmp_path, value, ok):
    """Given a CSV and a float64 .npy holding `value`, when loaded, then they load as float32
    when np.float32(value) is finite, and otherwise DataError names the file, row, column and
    value (training runs in float32, where the value would be infinite)."""
    with np.errstate(over="ignore"):
        assert np.isfinite(np.float32(value)) == ok  # The independent reference: NumPy's cast.
    csv_path = _write(tmp_path, "x.csv", f"a,b\n1,2\n3,{value!r}\n")
    series = np.array([[1.0, 2.0], [3.0, value], [5.0, 6.0]])  # float64 [3, 2]
    np.save(tmp_path / "x.npy", series)
    if ok:
        np.testing.assert_array_equal(data.load_csv(csv_path)[1, 1], np.float32(value))
        np.testing.assert_array_equal(data.load_npy(str(tmp_path / "x.npy")), series.astype("f4"))
        return
    with pytest.raises(
        DataError,
        match=rf"x.csv: value {re.escape(str(value))} at row 3, column 'b' overflows float32",
    ):
        data.load_csv(csv_path)
    with pytest.raises(DataError, match=r"x.npy: value .* at index \(1, 1\) .*overflows float32"):
        data.load_npy(str(tmp_path / "x.npy"))


def test_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    """Given CSVs starting with a UTF-8 byte-order mark, when loaded, then a headerless one keeps
    its first row and a headed one names its first column plainly ('a', not '\\ufeffa')."""
    (tmp_path / "x.csv").write_bytes(b"\xef\xbb\xbf1.5,2\n3,4\n5,6\n")
    np.testing.assert_array_equal(
        data.load_csv(str(tmp_path / "x.csv")), [[1.5, 2], [3, 4], [5, 6]]
    )
    (tmp_path / "h.csv").write_bytes(b"\xef\xbb\xbfa,b\n1,2\nnan,4\n")
    with pytest.raises(DataError, match=r"h.csv: non-finite value nan at row 3, column 'a';"):
        data.load_csv(str(tmp_path / "h.csv"))


def _npz_named_npy(d):
    np.savez(d / "x.npz", x=np.zeros((30, 2)))
    (d / "x.npz").rename(d / "x.npy")
    return "npy", d / "x.npy"


def _empty_file(d):
    (d / "x.npy").write_bytes(b"")
    return "npy", d / "x.npy"


def _latin1_csv(d):
    (d / "x.csv").write_bytes("temp\xe9rature,b\n1,2\n".encode("latin-1"))
    return "csv", d / "x.csv"


def _directory(d):
    (d / "x.csv").mkdir()
    return "csv", d / "x.csv"


def _not_npy(d):
    (d / "x.npy").write_text("1,2\n3,4\n")
    return "npy", d / "x.npy"


@pytest.mark.parametrize(
    "make, pattern",
    [
        (_npz_named_npy, r"x.npy: an .npz archive of arrays \['x'\], expected a .npy array"),
        (_empty_file, r"x.npy: empty NPY file \(0 bytes\), expected a .npy array"),
        (_latin1_csv, r"x.csv: byte b'\\xe9' at offset 4 is not UTF-8, expected UTF-8 text"),
        (_directory, r"CSV file '.*x.csv' is a directory, expected a file"),
        (_not_npy, r"x.npy: cannot read as a .npy array .*\(ValueError: "),
    ],
)
def test_unreadable_files_are_one_data_error(tmp_path, make, pattern):
    """Given a file that cannot be read as what its source needs, when loaded, then one
    DataError names the file and what was expected."""
    kind, path = make(tmp_path)
    with pytest.raises(DataError, match=pattern):
        data.load_source(kind, str(path))


def test_permission_denied_is_a_data_error(tmp_path, monkeypatch):
    """Given a file the process may not read (simulated: this test may run as root, who reads
    anything; tests/reliability_test.py checks a real one), then DataError says so."""
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))

    def denied(path, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(np, "load", denied)
    with pytest.raises(DataError, match=r"cannot read NPY file '.*x.npy': Permission denied"):
        data.load_npy(str(tmp_path / "x.npy"))
