"""The Japan earthquake catalogue as fixed-length windows of events (the paper's Table 1 set).

Shapes (ldx/shapes.py): E events, N windows, T time (events), D features (3).

The paper (arXiv 2405.14021, App. E) takes the USGS catalogue of Japan, 1990-2020, magnitude
>= 2.5, "with the same preprocessing as Li (2023)", which is Neural-STPP's (Chen et al. 2021):
times in days since 1990-01-01 00:00 UTC; one month-long sequence every 7 days, sequence k
holding the events with 7k <= t < 7k + 30 (k = 0 .. 1560); sequences that *start* in November
or December 2010 or in 2011 are dropped (the Tohoku period; the rule is by start date, so a
sequence starting late in October 2010 keeps its November events, as in Neural-STPP). Each
sequence is then an irregular series of events (time, longitude, latitude).

ldx's models take windows of a fixed length T, so each window here is the first T events of
one Neural-STPP sequence (sequences with fewer than T events are left out), one row per event:

    (log gap, longitude, latitude),  gap_1 = t_1 - 7k,  gap_j = t_j - t_{j-1}  (days)

Why this form: the window stays the paper's unit of data (a Neural-STPP sequence, cut to its
first T events) and loses nothing of its events: cumulative sums of the gaps give back the
sequence's times t_j - 7k. Gaps rather than times because the rows then mean the same thing at
every step (an autoregressive decoder predicts the next event from the last), and their log
because gaps are heavy-tailed (0.07 s to 5.9 days in the Japan file): min-max scaling of raw
gaps would squeeze almost every event into the bottom percent of [0, 1]. Gaps are floored at
`MIN_GAP_DAYS` (1 ms, the catalogue's time resolution) so that simultaneous events have a
finite log. Magnitude is not a feature, as in Neural-STPP's sequences (it only filters).
With T = 24, 1499 of the 1500 sequences of the Japan file are long enough (the median holds
80 events): windows of consecutive starts overlap when 24 events span more than 7 days.

Where this differs from the paper: (1) a window is a sequence's first T events, not the whole
variable-length month; (2) Neural-STPP also keeps only events whose USGS `place` names Japan,
a column the EarthquakeNPP file lacks (it is the lat 22-46, lon 122-150 box; its smallest
magnitude is 2.7, so the >= 2.5 cut removes nothing there); (3) the paper scores with "the
Wasserstein distance (Bischoff et al. 2024)" without saying between what; ldx's is the exact
W1 between equal-size sets of flattened, min-max scaled windows (`ldx.metrics.wasserstein`),
so its values are not on the paper's scale and only rankings compare.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ldx.errors import DataError

MIN_MAGNITUDE = 2.5  # Neural-STPP's USGS query: minmagnitude=2.5.
SEQUENCE_DAYS = 30  # Each sequence covers [7k, 7k + 30) days.
STRIDE_DAYS = 7  # A sequence starts every 7 days ...
NUM_STARTS = 52 * 30 + 1  # ... k = 0 .. 1560, as Neural-STPP's loop.
DROPPED_MONTHS = ("2010-11", "2011-12")  # Starts in this closed range of months are dropped.
MIN_GAP_DAYS = 1e-3 / 86400  # 1 ms: the floor under a gap before its log.
EPOCH = np.datetime64("1990-01-01T00:00:00", "ms")  # Day 0 (UTC).
COLUMNS = ("time", "longitude", "latitude", "magnitude")  # Read by name; others are ignored.
FEATURES = ("log_gap_days", "longitude", "latitude")


def sequence_starts() -> np.ndarray:
    """The start days (since 1990-01-01) of the Neural-STPP sequences that are kept. # [K]"""
    starts = STRIDE_DAYS * np.arange(NUM_STARTS)  # [K0]
    month = (EPOCH + starts.astype("timedelta64[D]")).astype("datetime64[M]")  # [K0]
    lo, hi = (np.datetime64(m, "M") for m in DROPPED_MONTHS)
    return starts[(month < lo) | (month > hi)]


def event_windows(
    days: np.ndarray,
    lonlat: np.ndarray,
    magnitude: np.ndarray,
    seq_len: int,
    min_magnitude: float = MIN_MAGNITUDE,
) -> np.ndarray:
    """The first `seq_len` events of each kept Neural-STPP sequence, as (log gap, lon, lat).

    Args:
      days: event times in days since 1990-01-01 00:00 UTC, sorted ascending. # [E]
      lonlat: longitude and latitude of each event. # [E, 2]
      magnitude: magnitude of each event. # [E]
      seq_len: T, events per window.
      min_magnitude: events below it are dropped first.

    Returns:
      float32 windows, one per sequence holding at least T events, in start order. # [N, T, 3]
    """
    keep = magnitude >= min_magnitude  # [E]
    days, lonlat = days[keep], lonlat[keep]  # [E'], [E', 2]
    starts = sequence_starts()  # [K]
    first = np.searchsorted(days, starts, side="left")  # [K]
    count = np.searchsorted(days, starts + SEQUENCE_DAYS, side="left") - first  # [K]
    full = count >= seq_len
    if not full.any():
        raise DataError(
            f"no Neural-STPP sequence holds seq_len={seq_len} events of magnitude >= "
            f"{min_magnitude} (the longest holds {int(count.max(initial=0))}); lower "
            "config.data.seq_len"
        )
    idx = first[full][:, None] + np.arange(seq_len)  # [N, T]
    t = days[idx]  # [N, T]
    prev = np.concatenate([starts[full][:, None].astype(np.float64), t[:, :-1]], axis=1)
    log_gap = np.log(np.maximum(t - prev, MIN_GAP_DAYS))  # [N, T]
    return np.concatenate([log_gap[..., None], lonlat[idx]], axis=-1).astype(np.float32)


def parse_catalogue(
    rows: Sequence[Sequence[str]], path: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reads catalogue rows (a header naming `COLUMNS`, then one event a row), sorted by time.

    Times are ISO 8601 (`1990-01-01 09:03:12.880` or `...T...Z`), taken as UTC.

    Args:
      rows: the CSV's rows, header first.
      path: the file, for messages.

    Returns:
      (days since 1990-01-01 [E] float64, longitude and latitude [E, 2], magnitude [E]).
    """
    if not rows:
        raise DataError(f"{path}: empty CSV file, expected an earthquake catalogue")
    header = [c.strip().lower() for c in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}: no column(s) {missing} in the header {rows[0]}, expected an earthquake "
            f"catalogue with columns {list(COLUMNS)}"
        )
    col = [header.index(c) for c in COLUMNS]
    if len(rows) < 2:
        raise DataError(f"{path}: no events after the header, expected at least one")
    times, values = [], []
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataError(f"{path}: row {i} has {len(r)} columns, expected {len(header)}")
        cell = r[col[0]].strip().removesuffix("Z").replace(" ", "T")
        try:
            times.append(np.datetime64(cell, "ms"))
        except ValueError:
            raise DataError(
                f"{path}: time {r[col[0]]!r} at row {i} is not a date, expected ISO 8601 "
                "such as '1990-01-01 09:03:12.880'"
            ) from None
        try:
            values.append([float(r[c]) for c in col[1:]])
        except ValueError:
            raise DataError(
                f"{path}: row {i}: longitude, latitude, magnitude {[r[c] for c in col[1:]]}, "
                "expected numbers"
            ) from None
    x = np.asarray(values, np.float64)  # [E, 3]
    bad = np.argwhere(~np.isfinite(x))
    if bad.size:
        i, j = bad[0]
        raise DataError(
            f"{path}: {COLUMNS[j + 1]} {x[i, j]} at row {i + 2} is not finite, expected numbers"
        )
    days = (np.asarray(times) - EPOCH).astype(np.int64) / 86_400_000.0  # [E]
    order = np.argsort(days, kind="stable")
    return days[order], x[order, :2], x[order, 2]
