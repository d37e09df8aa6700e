"""Tests of the earthquake catalogue windows (ldx.data.quakes) against a brute-force recipe."""

import datetime
import math

import numpy as np
import pytest

from ldx import data
from ldx.data import DataError, quakes

EPOCH = datetime.datetime(1990, 1, 1)


def _brute_force(events, seq_len):
    """Neural-STPP's loop, written out: for each week w, the events of magnitude >= 2.5 with
    7w <= t < 7w + 30 days, unless the week starts in Nov/Dec 2010 or in 2011; then the first
    seq_len of them as (log gap, lon, lat). `events`: (datetime, lon, lat, magnitude)."""
    days = [((t - EPOCH).total_seconds() / 86400, lo, la, m) for t, lo, la, m in events]
    days = sorted((e for e in days if e[3] >= 2.5), key=lambda e: e[0])
    out = []
    for weeks in range(52 * 30 + 1):
        date = EPOCH + datetime.timedelta(weeks=weeks)
        if date.year == 2011 or (date.year == 2010 and date.month in (11, 12)):
            continue
        start = (date - EPOCH).days
        seq = [e for e in days if start <= e[0] < start + 30]
        if len(seq) < seq_len:
            continue
        rows, prev = [], start
        for t, lon, lat, _ in seq[:seq_len]:
            rows.append([math.log(max(t - prev, 1e-3 / 86400)), lon, lat])
            prev = t
        out.append(rows)
    return np.array(out)


def _catalogue(seed=0):
    """A small catalogue: sparse years, a dense 2010-2012 (the dropped period inside it),
    magnitudes around the 2.5 cut and a few simultaneous events."""
    rng = np.random.default_rng(seed)
    ms = np.concatenate(
        [
            rng.uniform(0, 365 * 86400e3, 60),  # 1990
            rng.uniform(7300 * 86400e3, 7330 * 86400e3, 40),  # early 2010
            rng.uniform(7580 * 86400e3, 8200 * 86400e3, 700),  # Oct 2010 - mid 2012
            rng.uniform(10900 * 86400e3, 10990 * 86400e3, 30),  # end of 2019, past the last week
        ]
    ).astype(np.int64)
    events = [
        (
            EPOCH + datetime.timedelta(milliseconds=int(t)),
            round(rng.uniform(122, 150), 3),
            round(rng.uniform(22, 46), 3),
            round(rng.uniform(2.0, 6.0), 1),
        )
        for t in ms
    ]
    # One event reported three times, an hour after a sequence's start: zero gaps in its window.
    return events + [(EPOCH + datetime.timedelta(days=7308, hours=1), 140.0, 35.0, 4.0)] * 3


def _write(tmp_path, events, iso=False, name="cat.csv"):
    lines = ["id,time,longitude,latitude,magnitude,x,y"]
    for i, (t, lon, lat, m) in enumerate(events):
        stamp = t.isoformat(sep="T" if iso else " ", timespec="milliseconds") + ("Z" if iso else "")
        lines.append(f"{i},{stamp},{lon},{lat},{m},0.0,0.0")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("seq_len", [3, 6])
def test_windows_match_brute_force(tmp_path, seq_len):
    """Given a synthetic catalogue, when windowed, then Neural-STPP's loop gives the same rows."""
    events = _catalogue()
    expected = _brute_force(events, seq_len)  # [N, T, 3]
    got = data.load_source("earthquakes", _write(tmp_path, events), seq_len=seq_len)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
    # The recipe has bite: low magnitudes, the dropped weeks, short sequences and a zero gap.
    assert 0 < len(expected) < 52 * 30 + 1
    assert np.isclose(got[..., 0].min(), math.log(1e-3 / 86400), atol=1e-4)
    # Row order and the ISO form with "T" and "Z" do not matter.
    order = np.random.default_rng(1).permutation(len(events))
    shuffled = _write(tmp_path, [events[i] for i in order], iso=True, name="iso.csv")
    np.testing.assert_array_equal(data.load_source("earthquakes", shuffled, seq_len=seq_len), got)


def test_dropped_period_follows_the_start_date():
    """Given the kept starts, then none starts in Nov 2010 - Dec 2011 and all others are kept."""
    starts = quakes.sequence_starts()
    dates = [EPOCH + datetime.timedelta(days=int(s)) for s in starts]
    dropped = [
        w
        for w in range(52 * 30 + 1)
        if (d := EPOCH + datetime.timedelta(weeks=w)).year == 2011
        or (d.year == 2010 and d.month >= 11)
    ]
    assert len(starts) == 52 * 30 + 1 - len(dropped) and len(dropped) == 61
    assert not any(d.year == 2011 or (d.year == 2010 and d.month >= 11) for d in dates)
    nov = datetime.datetime(2010, 11, 1)  # Sequences reaching into November 2010 are kept:
    assert sum(d < nov < d + datetime.timedelta(days=30) for d in dates) == 4


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("id,time,lon,lat,magnitude\n", r"no column\(s\) \['longitude', 'latitude'\]"),
        ("time,longitude,latitude,magnitude\n", r"no events after the header"),
        (
            "time,longitude,latitude,magnitude\nyesterday,140,35,3\n",
            r"time 'yesterday' at row 2 is not a date",
        ),
        (
            "time,longitude,latitude,magnitude\n1990-01-02 00:00:00,140,35,big\n",
            r"row 2: longitude, latitude, magnitude \['140', '35', 'big'\], expected numbers",
        ),
        (
            "time,longitude,latitude,magnitude\n1990-01-02 00:00:00,nan,35,3\n",
            r"longitude nan at row 2 is not finite",
        ),
        (
            "time,longitude,latitude,magnitude\n1990-01-02 00:00:00,140,35\n",
            r"row 2 has 3 columns, expected 4",
        ),
        (
            "time,longitude,latitude,magnitude\n1990-01-02 00:00:00,140,35,3\n",
            r"no Neural-STPP sequence holds seq_len=24 events .*\(the longest holds 1\)",
        ),
    ],
)
def test_bad_catalogue_is_one_data_error(tmp_path, text, pattern):
    """Given a malformed catalogue, when loaded, then one DataError naming the problem."""
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=pattern):
        data.load_source("earthquakes", str(path), seq_len=24)


def test_japan_catalogue():
    """Given the shared Japan file, then 1499 windows of 24 events, finite and in range, the
    first equal to a plain parse of the file's first 24 lines, and a dataset in [0, 1]."""
    if not data.dataset_available("earthquakes"):
        pytest.skip(f"earthquakes: {data.dataset_path('earthquakes')} not found (set LDX_DATA_DIR)")
    x = data.load_source("earthquakes", seq_len=24)  # [N, 24, 3]
    assert x.shape == (1499, 24, 3) and x.dtype == np.float32 and np.isfinite(x).all()
    assert x[..., 0].min() >= math.log(1e-3 / 86400) and x[..., 0].max() <= math.log(30)
    assert 122 <= x[..., 1].min() and x[..., 1].max() <= 150
    assert 22 <= x[..., 2].min() and x[..., 2].max() <= 46
    with open(data.dataset_path("earthquakes")) as f:
        rows = [line.strip().split(",") for line in f.readlines()[1:25]]
    t = [(datetime.datetime.fromisoformat(r[1]) - EPOCH).total_seconds() / 86400 for r in rows]
    gaps = np.diff([0.0, *t])
    first = np.stack([np.log(gaps), [float(r[2]) for r in rows], [float(r[3]) for r in rows]], 1)
    np.testing.assert_allclose(x[0], first, rtol=1e-6, atol=1e-5)
    ds = data.build_dataset(data.DataConfig(name="earthquakes"))
    assert ds.train.shape == (1199, 24, 3) and ds.test.shape == (300, 24, 3)
    assert ds.train.min() == 0 and ds.train.max() == 1
