"""From raw arrays to normalised train/test windows and stateless batches.

Shapes (ldx/shapes.py): N rows, W windows, T time, D features, B batch.

Conventions follow TimeGAN / Diffusion-TS: windows of `seq_len` consecutive rows with stride 1,
each feature min-max scaled to [0, 1] with statistics of the training windows only. Columns that
are an exact affine function of others (copies, sums) can be modelled once (`column_basis`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

from ldx.data.sources import NAMES, DataError, load_source

SPLITS = ("random", "chronological")
SCALES = ("minmax", "none")


@dataclasses.dataclass(frozen=True, eq=False)
class MinMaxScaler:
    """Per-feature affine map x -> (x - minimum) / scale, then the model's features.

    The model's features are the D' <= D columns kept by `fit(..., drop_dependent=True)`; each
    dropped column is an exact affine function of the kept ones on the rows fitted, and
    `expand` restores it from them. A column the data holds twice (energy's rv1 and rv2,
    stocks' Close and Adj_Close) is then modelled once, and a model cannot draw the copies apart
    (docs/quality.md, Cause 2b).

    Attributes:
      minimum: per-feature minimum. # [D]
      scale: per-feature max - min; 1 for constant features, which map to 0. # [D]
      keep: the model's features, increasing column indices; None = all D. # [D']
      fill: dropped normalised columns = [kept normalised columns, 1] @ fill. # [D' + 1, D - D']
    """

    minimum: np.ndarray
    scale: np.ndarray
    keep: np.ndarray | None = None
    fill: np.ndarray | None = None

    @classmethod
    def fit(cls, x: np.ndarray, drop_dependent: bool = False) -> MinMaxScaler:
        """Fits on all rows of `x` # [..., D]; with drop_dependent, keeps the columns
        `column_basis` selects (the scaler is the plain min-max one if it keeps all)."""
        x = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])  # [rows, D]
        lo, hi = x.min(axis=0), x.max(axis=0)  # [D]
        scaler = cls(minimum=lo, scale=np.where(hi > lo, hi - lo, 1.0))
        if not drop_dependent:
            return scaler
        keep, fill = column_basis((x - scaler.minimum) / scaler.scale)  # [D'], [D' + 1, D - D']
        if len(keep) == len(lo):
            return scaler
        return dataclasses.replace(scaler, keep=keep, fill=fill)

    @classmethod
    def identity(cls, dim: int) -> MinMaxScaler:
        """The identity map on D features (data.scale="none", e.g. spike counts)."""
        return cls(minimum=np.zeros(dim), scale=np.ones(dim))

    @property
    def dim(self) -> int:
        """D, the features in data units."""
        return len(self.minimum)

    def select(self, x: np.ndarray) -> np.ndarray:
        """The model's features of full-width values, e.g. a mask. # [..., D] -> [..., D']"""
        return x if self.keep is None else x[..., self.keep]

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Maps to the model's normalised features, float32. # [..., D] -> [..., D']"""
        return self.select(
            ((np.asarray(x, np.float64) - self.minimum) / self.scale).astype(np.float32)
        )

    def expand(self, x: np.ndarray) -> np.ndarray:
        """Restores the dropped columns, in x's float dtype; x itself if it has all D.
        # [..., D'] (or [..., D]) normalised -> [..., D] normalised"""
        x = np.asarray(x)
        if self.keep is None or x.shape[-1] == self.dim:
            return x
        out = np.empty((*x.shape[:-1], self.dim), np.result_type(x.dtype, np.float32))
        out[..., self.keep] = x
        dropped = np.setdiff1d(np.arange(self.dim), self.keep)
        out[..., dropped] = x.astype(np.float64) @ self.fill[:-1] + self.fill[-1]
        return out

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        """Maps normalised values back to data units, float32 (`expand` first).
        # [..., D'] (or [..., D]) -> [..., D]"""
        x = np.asarray(self.expand(x), np.float64)  # [..., D]
        return (x * self.scale + self.minimum).astype(np.float32)


def column_basis(z: np.ndarray, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The columns a model needs, and the affine map that restores the others from them.

    Going through the columns in order, each non-constant one is dropped when the earlier kept
    columns reproduce its centred values by least squares to an rms residual <= tol x its std.

    Args:
      z: rows of features on a common scale (min-max normalised). # [rows, D]
      tol: relative tolerance: 1e-3 catches exact copies and sums after float32 rounding and
        drops nothing that differs from them by more than 0.1% of its spread.

    Returns:
      (keep: int indices of the kept columns, increasing; constant columns are always kept,
       # [D']
       fill: the dropped columns, in increasing order, = [z[:, keep], 1] @ fill, by least
       squares on the rows. # [D' + 1, D - D'])
    """
    mean = np.mean(z, axis=0, dtype=np.float64)  # [D]
    zc = np.asarray(z, np.float64) - mean  # [rows, D]
    gram = zc.T @ zc  # [D, D]
    keep: list[int] = []
    for j in range(len(gram)):
        total = gram[j, j]
        if keep and total > 0:
            cross = gram[keep, j]  # [k]
            explained = cross @ np.linalg.lstsq(gram[np.ix_(keep, keep)], cross, rcond=None)[0]
            if total - explained <= tol**2 * total:
                continue
        keep.append(j)
    dropped = np.setdiff1d(np.arange(len(gram)), keep)  # [D - D']
    coef = np.linalg.lstsq(gram[np.ix_(keep, keep)], gram[np.ix_(keep, dropped)], rcond=None)[0]
    fill = np.concatenate([coef, (mean[dropped] - mean[keep] @ coef)[None]])  # [D' + 1, D - D']
    return np.asarray(keep, np.int64), fill


def tie_projection(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The affine map that ties each column `column_basis` finds dependent in `x` to the others.

    Args:
      x: rows or windows of features on a common scale (min-max normalised). # [..., D]

    Returns:
      (P, c), float32, such that x P + c keeps every independent column and restores the
      dependent ones from them # [D, D], [D]; None if no column is dependent.
    """
    d = np.shape(x)[-1]
    keep, fill = column_basis(np.reshape(x, (-1, d)))
    if len(keep) == d:
        return None
    dropped = np.setdiff1d(np.arange(d), keep)  # [D - D']
    p, c = np.zeros((d, d), np.float32), np.zeros(d, np.float32)
    p[keep, keep] = 1.0
    p[np.ix_(keep, dropped)] = fill[:-1]
    c[dropped] = fill[-1]
    return p, c


def make_windows(series: np.ndarray, seq_len: int, stride: int = 1) -> np.ndarray:
    """Cuts a series into overlapping windows.

    Args:
      series: the series. # [N, D]
      seq_len: T, the window length.
      stride: rows between the starts of consecutive windows.

    Returns:
      float32 windows, contiguous; window w is series[w * stride : w * stride + T]. # [W, T, D]
    """
    if seq_len < 1 or stride < 1:
        raise DataError(f"make_windows: seq_len={seq_len}, stride={stride}, expected both >= 1")
    if np.ndim(series) != 2:
        raise DataError(f"make_windows: series of shape {np.shape(series)}, expected [N, D]")
    if len(series) < seq_len:
        raise DataError(
            f"series of length {len(series)} is shorter than the window length seq_len={seq_len}"
        )
    view = np.lib.stride_tricks.sliding_window_view(series, seq_len, axis=0)  # [W, D, T]
    return np.ascontiguousarray(view[::stride].transpose(0, 2, 1), dtype=np.float32)


def shuffle_time(windows: np.ndarray, seed: int | Sequence[int]) -> np.ndarray:
    """Permutes the time steps of each window independently (the "shuffled series" experiment).

    Args:
      windows: the windows. # [W, T, D]
      seed: seed (or seed sequence) of the NumPy generator.

    Returns:
      windows with rows in a random order, one permutation per window. # [W, T, D]
    """
    w, t = np.shape(windows)[:2]
    perm = np.argsort(np.random.default_rng(seed).random((w, t)), axis=1)  # [W, T]
    return np.take_along_axis(windows, perm[:, :, None], axis=1)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """What data to load and how to cut it.

    Attributes:
      name: a source of `ldx.data.NAMES`.
      path: file for csv/npy; overrides the default file of a named dataset.
      seq_len: T, the window length.
      shuffle_time: permute the time steps inside each window after scaling.
      train_fraction: fraction of windows (random) or of series rows (chronological) for training.
      split: `random` (all windows, then a random split: TimeGAN / Diffusion-TS) or
        `chronological` (split the series rows, then window each part).
      num_samples: N for sines.
      dim: D for sines.
      data_dir: folder of the named datasets; empty means the default search (`dataset_path`).
      scale: "minmax" (each feature to [0, 1] with training statistics) or "none" (keep the
        values, e.g. spike counts for a Poisson or Bernoulli likelihood).
      drop_dependent: with scale="minmax", model only the columns that are not an affine
        function of earlier ones on the training rows (`column_basis`); the scaler
        restores the others. A no-op on data without such columns.
      seed: seeds the sines generator, the split and the time shuffle.
    """

    name: str = "sines"
    path: str = ""
    seq_len: int = 24
    shuffle_time: bool = False
    train_fraction: float = 0.8
    split: str = "random"
    num_samples: int = 10000
    dim: int = 5
    data_dir: str = ""
    scale: str = "minmax"
    drop_dependent: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.name not in NAMES:
            raise DataError(f"data.name={self.name!r} unknown, expected one of {list(NAMES)}")
        if self.seq_len < 2:
            raise DataError(f"data.seq_len={self.seq_len}, expected an integer >= 2")
        if not 0.0 < self.train_fraction < 1.0:
            raise DataError(
                f"data.train_fraction={self.train_fraction}, expected a value in "
                "the open interval (0, 1)"
            )
        if self.split not in SPLITS:
            raise DataError(f"data.split={self.split!r} unknown, expected one of {list(SPLITS)}")
        if self.scale not in SCALES:
            raise DataError(f"data.scale={self.scale!r} unknown, expected one of {list(SCALES)}")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Normalised train/test windows of the model's features and the scaler that maps them
    back to data units.

    Attributes:
      train: float32 training windows. # [Ntr, T, D']
      test: float32 test windows. # [Nte, T, D']
      scaler: fitted on all rows of `train` before any time shuffle; D' = D unless
        data.drop_dependent dropped columns (`MinMaxScaler.expand` restores them).
    """

    train: np.ndarray
    test: np.ndarray
    scaler: MinMaxScaler

    @property
    def seq_len(self) -> int:
        return self.train.shape[1]

    @property
    def dim(self) -> int:
        """D', the model's features."""
        return self.train.shape[2]


def _cut(n: int, fraction: float) -> int:
    """floor(n * fraction) as in TimeGAN, robust to float error (0.29 * 100 -> 29)."""
    return int(n * fraction + 1e-9)


def split_indices(n: int, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and test windows among n ready windows (what `build_dataset` uses).

    The first floor(n * train_fraction) windows of a seeded random order (split="random") or of
    the original order train; the rest test. Evaluation uses it to find, e.g., the true latents
    or the behaviour of the test windows.
    """
    n_train = _cut(n, cfg.train_fraction)
    if not 1 <= n_train <= n - 1:
        raise DataError(
            f"{n} window(s) with train_fraction={cfg.train_fraction} leave "
            f"{n_train} for training and {n - n_train} for test, expected >= 1 each"
        )
    order = np.arange(n)
    if cfg.split == "random":
        order = np.random.default_rng([cfg.seed, 0]).permutation(n)
    return order[:n_train], order[n_train:]


def _split_windows(windows: np.ndarray, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Splits windows at train_fraction: in a seeded random order, or in order. # [W, T, D]"""
    train, test = split_indices(len(windows), cfg)
    return windows[train], windows[test]


def load_raw(cfg: DataConfig) -> np.ndarray:
    """The data source of `cfg` as loaded: a series [N, D] or ready windows [N, T, D]."""
    return load_source(
        cfg.name,
        cfg.path,
        cfg.data_dir or None,
        num_samples=cfg.num_samples,
        dim=cfg.dim,
        seq_len=cfg.seq_len,
        seed=cfg.seed,
    )


def build_dataset(cfg: DataConfig) -> Dataset:
    """Loads, windows, splits, scales and optionally time-shuffles a data source.

    Args:
      cfg: the data settings; the result is a deterministic function of it.

    Returns:
      the normalised train/test windows and the scaler.
    """
    raw = load_raw(cfg)
    if raw.ndim == 3:  # Ready windows [N, T, D].
        if raw.shape[1] != cfg.seq_len:
            raise DataError(
                f"{cfg.name} windows have length {raw.shape[1]}, but data.seq_len={cfg.seq_len}"
            )
        train, test = _split_windows(raw, cfg)
    elif cfg.split == "chronological":
        cut = _cut(len(raw), cfg.train_fraction)
        for part, rows in (("train", cut), ("test", len(raw) - cut)):
            if rows < cfg.seq_len:
                raise DataError(
                    f"chronological {part} split of {cfg.name} has {rows} rows "
                    f"({len(raw)} x train_fraction={cfg.train_fraction}), fewer "
                    f"than seq_len={cfg.seq_len}"
                )
        train, test = make_windows(raw[:cut], cfg.seq_len), make_windows(raw[cut:], cfg.seq_len)
    else:
        train, test = _split_windows(make_windows(raw, cfg.seq_len), cfg)
    if cfg.scale == "minmax":
        scaler = MinMaxScaler.fit(train, drop_dependent=cfg.drop_dependent)
    else:
        scaler = MinMaxScaler.identity(raw.shape[-1])
    train, test = scaler.transform(train), scaler.transform(test)  # [Ntr, T, D'], [Nte, T, D']
    if cfg.shuffle_time:
        train = shuffle_time(train, seed=[cfg.seed, 1])
        test = shuffle_time(test, seed=[cfg.seed, 2])
    return Dataset(train=train, test=test, scaler=scaler)


@functools.lru_cache(maxsize=4)
def _epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    perm = np.random.default_rng([seed, epoch]).permutation(num_examples)  # [N]
    perm.flags.writeable = False  # Shared through the cache.
    return perm


def batch_indices(num_examples: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Indices of the examples of one training step, a pure function of its arguments.

    The example stream is the concatenation of epochs, epoch e being
    `np.random.default_rng([seed, e]).permutation(num_examples)`; step s takes the stream's
    positions s * B .. s * B + B - 1, so a batch may straddle two epochs and a resumed run sees
    exactly the same batches.

    Args:
      num_examples: N, the number of examples.
      batch_size: B; may exceed N (examples then repeat across epochs).
      step: the training step, >= 0.
      seed: the data seed, >= 0.

    Returns:
      int64 indices into the examples. # [B]
    """
    for field, value, low in (
        ("num_examples", num_examples, 1),
        ("batch_size", batch_size, 1),
        ("step", step, 0),
        ("seed", seed, 0),
    ):
        if value < low:
            raise DataError(f"batch_indices: {field}={value}, expected an integer >= {low}")
    positions = step * batch_size + np.arange(batch_size, dtype=np.int64)  # [B]
    epochs, offsets = np.divmod(positions, num_examples)  # [B], [B]
    out = np.empty(batch_size, np.int64)  # [B]
    for epoch in range(int(epochs[0]), int(epochs[-1]) + 1):
        mask = epochs == epoch
        out[mask] = _epoch_permutation(num_examples, seed, epoch)[offsets[mask]]
    return out


def get_batch(data: np.ndarray, batch_size: int, step: int, seed: int) -> np.ndarray:
    """The batch of one training step, see `batch_indices`. # [N, T, D] -> [B, T, D]"""
    return data[batch_indices(len(data), batch_size, step, seed)]
