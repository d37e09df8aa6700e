"""Preemption notices: SIGTERM asks the training loop to save a checkpoint and stop.

One process: a SIGTERM handler sets a flag that the loop reads at the next step boundary.
Several processes (after `jax.distributed.initialize`): JAX's preemption service catches
SIGTERM on any process and agrees with the others on one step at which all of them save
(`multihost_utils.reached_preemption_sync_point`), so the collective save cannot deadlock.
"""

from __future__ import annotations

import signal
import threading

import jax
from absl import logging
from jax.experimental import multihost_utils


class PreemptionWatch:
    """Watches for preemption from creation until `close()` (or the end of a `with` block).

    `reached(step)` says whether to save and stop after `step` steps. It must be asked at
    every step boundary, by every process, with the same step numbers.
    """

    def __init__(self):
        self._flag = threading.Event()
        self._previous = None
        # Signal handlers can only be set from the main thread; elsewhere (e.g. a notebook's
        # worker thread) SIGTERM keeps its default action and a rerun resumes as after SIGKILL.
        if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handler)

    def _handler(self, signum, frame):
        del frame
        logging.warning("Received signal %d: saving a checkpoint at the next step.", signum)
        self._flag.set()

    def close(self) -> None:
        """Gives SIGTERM back its previous handler."""
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def __enter__(self) -> PreemptionWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reached(self, step: int) -> bool:
        if jax.process_count() > 1:
            try:
                return multihost_utils.reached_preemption_sync_point(step)
            except RuntimeError:  # The preemption service is turned off.
                return False
        return self._flag.is_set()
