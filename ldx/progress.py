"""Progress of long phases of work: a start line, then on a terminal a bar with an ETA.

The library announces its phases through `phase` (training, sampling, each metric of an
evaluation, the dependency measure, each cell of a grid, each download). Nothing is shown unless
an app called `enable` (the launch apps do), so library calls and tests stay quiet. Each phase
writes one line to stderr when it starts, `<app>: <what> ...`, on its own line, so a redirected
log holds one line per phase; when stderr is a terminal a tqdm bar follows it (elapsed time,
rate and, for a phase of counted units, the ETA) and is erased when the phase ends.
"""

from __future__ import annotations

import contextlib
import sys

_app: str | None = None  # set by `enable`: phases are shown


def enable(app: str | None) -> None:
    """Shows phases from now on, each line starting with `app:` (None: shows nothing)."""
    global _app
    _app = app


class _Quiet:
    """What `phase` yields when nothing is shown: a bar that ignores its updates."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass


@contextlib.contextmanager
def phase(
    what: str,
    total: int | None = None,
    unit: str = "it",
    initial: int = 0,
    *,
    show: bool = True,
    bar: bool = True,
):
    """A phase of work: `with phase("drawing 500 series", total=3, unit="batch") as bar:`.

    Args:
      what: what is being done, for the start line and the bar.
      total: units of work, if counted (then the bar has an ETA); `bar.update(n)` after each.
      unit: the name of a unit ("B": bytes, shown as kB, MB, ...).
      initial: units done before (a resumed run).
      show: False shows nothing (e.g. on the processes of a multi-host run other than 0).
      bar: False shows the start line only.

    Yields:
      the bar (tqdm's `update` and `set_postfix`).
    """
    if _app is None or not show:
        yield _Quiet()
        return
    print(f"{_app}: {what} ...", file=sys.stderr, flush=True)
    from tqdm import tqdm

    shown = tqdm(
        total=total,
        initial=initial,
        unit=unit,
        unit_scale=unit == "B",  # bytes as kB, MB, ...
        file=sys.stderr,
        disable=not (bar and sys.stderr.isatty()),
        leave=False,
        dynamic_ncols=True,
    )
    try:
        yield shown
    finally:
        shown.close()
