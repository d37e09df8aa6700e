"""ldx.progress: a phase's start line comes before its work; the bar, with an ETA, only on a
terminal; nothing at all unless an app enabled it."""

import io
import sys
import time

import pytest

from ldx import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [io.StringIO, _Terminal], ids=["redirected", "terminal"])
def test_a_phase_says_what_it_does_before_doing_it(monkeypatch, stream):
    # Given an app that enabled progress; when a phase of 3 counted units runs, then its line
    # is written before any unit is done; on a terminal a bar follows with the count and the
    # ETA ("<" remaining time), redirected nothing else is written.
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    progress.enable("app")
    try:
        with progress.phase("drawing 3 series", total=3, unit="batch") as bar:
            assert err.getvalue().startswith("app: drawing 3 series ...\n")  # before any unit
            assert "1/3" not in err.getvalue()
            for _ in range(3):
                time.sleep(0.15)  # above tqdm's refresh interval, 0.1 s
                bar.update()
    finally:
        progress.enable(None)
    if stream is _Terminal:
        assert "2/3" in err.getvalue() and "<00:0" in err.getvalue()
    else:
        assert err.getvalue() == "app: drawing 3 series ...\n"


def test_library_calls_show_nothing(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress.phase("training", total=2) as bar:
        bar.update()
    assert err.getvalue() == ""
