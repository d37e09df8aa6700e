"""Raw arrays from generators and files: Sines, CSV, NPY, MAT and the named datasets.

Shapes (ldx/shapes.py): N rows (or windows), T time, D features.

Every loader validates its input at the boundary and raises `DataError` with a message that names
the file, field or value at fault and what was expected. File-class failures (missing, a
directory, empty, unreadable, not UTF-8, unparsable) are turned into one in `_read`; values are
checked after the cast to float32, the training dtype (`_as_float32`).
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ldx.data import download, nlb, quakes, synthetic
from ldx.errors import DataError

# Named real datasets: file relative to the data folder, and how to read it (path, seq_len T).
_NAMED: dict[str, tuple[str, Callable[[str, int], np.ndarray]]] = {
    "stocks": ("stocks/stock_data.csv", lambda p, t: load_csv(p)),
    "energy": ("energy/energy_data.csv", lambda p, t: load_csv(p)),
    "etth1": ("etth1/ETTh1.csv", lambda p, t: load_csv(p, drop_columns=(0,))),  # Col. 0: a date.
    "fmri": ("fmri/sim4.mat", lambda p, t: load_mat(p, key="ts")),
    "mc_maze": (nlb.MC_MAZE_SMALL, lambda p, t: nlb.load_nlb(p).spikes),  # Trials [75, 140, 142].
    "earthquakes": ("earthquakes/Japan_catalog.csv", lambda p, t: load_earthquakes(p, t)),
}
# Generated sets with known latents (ldx.data.synthetic): name -> generator of windows [N, T, D].
_GENERATED = {
    "spiral": lambda n, t, d, seed: synthetic.spirals(n, t, seed)[0],  # D = 2 always.
    "spikes_poisson": lambda n, t, d, seed: synthetic.lorenz_spikes(n, t, d, seed)[0],
    "spikes_bernoulli": lambda n, t, d, seed: synthetic.lorenz_spikes(
        n, t, d, seed, spike_model="bernoulli"
    )[0],
}
NAMES = ("sines", *_GENERATED, *_NAMED, "csv", "npy")


def sines(num_samples: int, seq_len: int, dim: int, seed: int) -> np.ndarray:
    """The TimeGAN Sines data set.

    For each sample n and feature d independently, x_t = (sin(f * t + p) + 1) / 2 for
    t = 0..T-1, with f, p ~ U(0, 0.1). Draw order: `rng = np.random.default_rng(seed)`, then
    `f = rng.uniform(0, 0.1, (N, D))`, then `p = rng.uniform(0, 0.1, (N, D))`.

    Args:
      num_samples: N, the number of windows.
      seq_len: T, the window length.
      dim: D, the number of features.
      seed: seed of the NumPy generator.

    Returns:
      float32 windows in [0, 1]. # [N, T, D]
    """
    for field, value in (("num_samples", num_samples), ("seq_len", seq_len), ("dim", dim)):
        if value < 1:
            raise DataError(f"sines: {field}={value}, expected an integer >= 1")
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.0, 0.1, (num_samples, 1, dim))  # [N, 1, D]
    phase = rng.uniform(0.0, 0.1, (num_samples, 1, dim))  # [N, 1, D]
    t = np.arange(seq_len, dtype=np.float64)[None, :, None]  # [1, T, 1]
    return ((np.sin(freq * t + phase) + 1.0) / 2.0).astype(np.float32)  # [N, T, D]


_FLOAT32_MAX = float(np.finfo(np.float32).max)  # Data train as float32: larger is infinite.


def _read(path: str, what: str, expected: str, reader: Callable[[str], Any]) -> Any:
    """`reader(path)`, with every way a file can fail to be read turned into one DataError.

    The one place for file-class failures: a missing path, a directory, an empty (0-byte) file,
    no permission, bytes that are not UTF-8, a file the reader cannot parse. Each message names
    the file and what was expected.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(
            f"{what} not found: {path!r} (absolute: {os.path.abspath(path)!r}). "
            "Set config.data.path to the file, or the LDX_DATA_DIR environment "
            "variable to the folder of the named datasets."
        ) from None
    except OSError as e:
        raise DataError(f"cannot access {what} {path!r}: {e.strerror or e}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(
            f"{what} {path!r} is a directory, expected a file: {expected}. "
            "Set config.data.path to a file in it."
        )
    if info.st_size == 0:
        raise DataError(f"{path}: empty {what} (0 bytes), expected {expected}")
    try:
        return reader(path)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: byte {e.object[e.start : e.start + 1]!r} at offset {e.start} is not "
            f"UTF-8, expected {expected}; re-save the file as UTF-8"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read {what} {path!r}: {e.strerror or e}.") from None
    except Exception as e:  # Whatever the parser raises on a file it cannot read.
        reason = (str(e).strip().splitlines() or [""])[0][:200]
        raise DataError(
            f"{path}: cannot read as {expected} ({type(e).__name__}: {reason})"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_float32(
    x: np.ndarray,
    path: str,
    columns: Sequence[str] | None = None,
    first_row: int | None = None,
) -> np.ndarray:
    """`x` cast to float32, the training dtype; DataError naming the first value that is not
    finite there (NaN, Inf, or beyond float32's range, e.g. 1e39 or 1e300).

    Args:
      x: numeric values. # [N, D] or [N, T, D]
      path: the file, for messages.
      columns: names of the last axis' entries (a CSV header), for messages.
      first_row: the file's row number of x[0] (CSV); None names array indices instead.
    """
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{path}: dtype {x.dtype} is not numeric, expected integers or floats")
    if x.size == 0:
        raise DataError(
            f"{path}: array of shape {x.shape} holds no values, expected at least one row and "
            "one column"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        y = x.astype(np.float32)
    bad = np.argwhere(~np.isfinite(y))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        col = repr(columns[where[-1]]) if columns else str(where[-1])
        place = f"index {where} (column {col})"
        if first_row is not None:
            place = f"row {where[0] + first_row}, column {col}"
        value = x[where]
        what = f"non-finite value {value} at {place}"
        if np.isfinite(value):
            what = f"value {value} at {place} overflows float32 (the training dtype)"
        raise DataError(
            f"{path}: {what}; {len(bad)} value(s) in total are NaN/Inf in float32, expected "
            f"finite numbers of magnitude at most {_FLOAT32_MAX:.4g}"
        )
    return y


def _csv_rows(path: str) -> list[list[str]]:
    # utf-8-sig: a byte-order mark is not part of the first cell.
    with open(path, newline="", encoding="utf-8-sig") as f:
        return [r for r in csv.reader(f) if r and any(c.strip() for c in r)]


def load_csv(path: str, *, drop_columns: Sequence[int] = ()) -> np.ndarray:
    """Reads a numeric CSV file (UTF-8, a byte-order mark allowed) as a series.

    A first row with any non-numeric cell (after dropping columns) is taken as a header.

    Args:
      path: the CSV file.
      drop_columns: column indices to drop (e.g. a date column), negative allowed.

    Returns:
      float32 series. # [N, D]
    """
    rows = _read(path, "CSV file", "UTF-8 text, rows of numbers separated by commas", _csv_rows)
    if not rows:
        raise DataError(f"{path}: empty CSV file, expected rows of numbers")
    width = len(rows[0])
    if any(not -width <= c < width for c in drop_columns):
        raise DataError(
            f"{path}: drop_columns={tuple(drop_columns)} out of range for {width} columns"
        )
    keep = [c for c in range(width) if c not in {c % width for c in drop_columns}]
    if not keep:
        raise DataError(
            f"{path}: no column left after dropping {tuple(drop_columns)} of "
            f"{width}, expected at least 1"
        )
    header = None
    if not all(_is_number(rows[0][c]) for c in keep):
        header, rows = rows[0], rows[1:]
    first = 2 if header else 1  # 1-based line number of rows[0] in the file (blank lines aside).
    for i, r in enumerate(rows):
        if len(r) != width:
            raise DataError(
                f"{path}: row {i + first} has {len(r)} columns, expected {width} (ragged rows)"
            )
    if not rows:
        raise DataError(f"{path}: no data rows after the header, expected at least 1")
    names = [header[c].strip() if header else str(c) for c in keep]
    try:
        x = np.array([[float(r[c]) for c in keep] for r in rows])  # [N, D]
    except ValueError:
        i, j = next(
            (i, j) for i, r in enumerate(rows) for j, c in enumerate(keep) if not _is_number(r[c])
        )
        raise DataError(
            f"{path}: non-numeric cell {rows[i][keep[j]]!r} at row {i + first}, "
            f"column {names[j]!r} (index {keep[j]}), expected a number; "
            "drop the column with drop_columns"
        ) from None
    return _as_float32(x, path, names, first)


def load_earthquakes(path: str, seq_len: int) -> np.ndarray:
    """Reads an earthquake catalogue CSV as windows of T events (`ldx.data.quakes`).

    Args:
      path: a CSV with columns time, longitude, latitude, magnitude (e.g. the Japan catalogue).
      seq_len: T, events per window.

    Returns:
      float32 windows of (log gap in days, longitude, latitude). # [N, T, 3]
    """
    expected = "UTF-8 text, an earthquake catalogue with a header row"
    rows = _read(path, "CSV file", expected, _csv_rows)
    days, lonlat, magnitude = quakes.parse_catalogue(rows, path)
    return quakes.event_windows(days, lonlat, magnitude, seq_len)


_NPY = "a .npy array (np.save) of rank 2 [N, D] (a series) or rank 3 [N, T, D] (windows)"


def load_npy(path: str) -> np.ndarray:
    """Reads a `.npy` array: a series [N, D] or ready windows [N, T, D].

    Args:
      path: the `.npy` file.

    Returns:
      float32 array. # [N, D] or [N, T, D]
    """
    x = _read(path, "NPY file", _NPY, lambda p: np.load(p, allow_pickle=False))
    if not isinstance(x, np.ndarray):  # np.load opens an .npz archive whatever its name.
        names = list(x.files)
        x.close()
        raise DataError(f"{path}: an .npz archive of arrays {names}, expected {_NPY}")
    if x.ndim not in (2, 3):
        raise DataError(f"{path}: array of shape {x.shape} (rank {x.ndim}), expected {_NPY}")
    return _as_float32(x, path)


def load_mat(path: str, key: str = "ts") -> np.ndarray:
    """Reads one rank-2 variable of a MATLAB `.mat` file as a series.

    Args:
      path: the `.mat` file.
      key: the variable name.

    Returns:
      float32 series. # [N, D]
    """
    import scipy.io  # Imported here: only fMRI needs it.

    mat = _read(path, "MAT file", "a MATLAB .mat file (up to v7.2)", scipy.io.loadmat)
    if key not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"{path}: no variable {key!r}, available keys: {keys}")
    x = np.asarray(mat[key])
    if x.ndim != 2:
        raise DataError(f"{path}: variable {key!r} has shape {x.shape}, expected rank 2 [N, D]")
    return _as_float32(x, path)


def data_dir_default() -> str:
    """The first folder searched for named datasets: $LDX_DATA_DIR, else `../shared/data`.

    `dataset_path` then looks in the download cache too (`ldx.data.download.search_dirs`).
    """
    return download.search_dirs()[0]


def dataset_path(name: str, data_dir: str | None = None) -> str:
    """The default file of a named real dataset (`stocks`, `energy`, `etth1`, `fmri`, `mc_maze`,
    `earthquakes`).

    Under `data_dir` if given, else the first of `download.search_dirs()` that holds it, else
    where `python -m launch.data` puts it.
    """
    if name not in _NAMED:
        raise DataError(f"no stored file for dataset {name!r}, expected one of {list(_NAMED)}")
    return download.locate(_NAMED[name][0], data_dir)


def dataset_available(name: str, data_dir: str | None = None) -> bool:
    """Whether `load_source(name)` runs without a path: generated always, else if its file is."""
    if name == "sines" or name in _GENERATED:
        return True
    return name in _NAMED and os.path.isfile(dataset_path(name, data_dir))


def load_source(
    name: str,
    path: str = "",
    data_dir: str | None = None,
    *,
    num_samples: int = 10000,
    dim: int = 5,
    seq_len: int = 24,
    seed: int = 0,
) -> np.ndarray:
    """Loads a data source by name.

    Args:
      name: one of `NAMES`: sines, spiral, spikes_poisson, spikes_bernoulli, stocks, energy,
        etth1, fmri, mc_maze, earthquakes, csv, npy.
      path: the file; required for csv and npy, overrides the default file of a named dataset.
      data_dir: folder of the named datasets; None or "" means the default search
        (`dataset_path`: $LDX_DATA_DIR, else ../shared/data, then the download cache).
      num_samples: N for generated sets.
      dim: D for sines and the synthetic spikes (neurons); the spiral has D = 2.
      seq_len: T for generated sets and earthquakes (events per window).
      seed: seed for generated sets.

    Returns:
      float32 series [N, D], or windows [N, T, D] for generated sets, mc_maze, earthquakes and
      rank-3 npy.
    """
    if name == "sines":
        return sines(num_samples, seq_len, dim, seed)
    if name in _GENERATED:
        return _GENERATED[name](num_samples, seq_len, dim, seed)
    if name in ("csv", "npy"):
        if not path:
            raise DataError(f"data source {name!r} needs a path: set config.data.path")
        return load_csv(path) if name == "csv" else load_npy(path)
    if name not in _NAMED:
        raise DataError(f"unknown dataset name {name!r}, expected one of {list(NAMES)}")
    if not path:
        path = dataset_path(name, data_dir)
        if not os.path.exists(path):
            raise DataError(download.missing_message(name, path))
    return _NAMED[name][1](path, seq_len)
