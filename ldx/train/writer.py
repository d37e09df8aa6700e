"""Metric logging to absl, a JSONL file and TensorBoard event files (no TensorFlow)."""

from __future__ import annotations

import json
import os

from absl import logging


class MetricWriter:
    """Appends {"step": s, name: value, ...} lines to `<workdir>/metrics.jsonl`.

    TensorBoard events go to `<workdir>/tensorboard` through tensorboardX.
    Only JAX process 0 should create one (others pass `enabled=False`).
    A run killed mid-line leaves a partial last line: it is ended before appending.
    """

    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        self._file = self._tb = None
        if enabled:
            os.makedirs(workdir, exist_ok=True)
            path = os.path.join(workdir, "metrics.jsonl")
            self._file = open(path, "a")
            if self._file.tell() > 0:
                with open(path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        self._file.write("\n")
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        metrics = {k: float(v) for k, v in metrics.items()}
        logging.info("step %d: %s", step, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
        self._file.write(json.dumps({"step": int(step), **metrics}) + "\n")
        self._file.flush()
        for name, value in metrics.items():
            self._tb.add_scalar(name, value, step)

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            self._tb.close()


def read_metrics(workdir: str) -> list[dict[str, float]]:
    """Reads back `<workdir>/metrics.jsonl`, one record per step in step order.

    A resumed run logs again the steps after its checkpoint: the last record of a step wins.
    Partial lines, left by a run killed while writing, are skipped.
    """
    by_step = {}
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "step" in record:
                by_step[record["step"]] = record
    return [by_step[s] for s in sorted(by_step)]
