"""Metric logging to absl, a JSONL file and TensorBoard event files (no TensorFlow)."""

from __future__ import annotations

import json
import os

from absl import logging


class MetricWriter:
    """Appends {"step": s, name: value, ...} lines to `<workdir>/metrics.jsonl`.

    TensorBoard events go to `<workdir>/tensorboard` through tensorboardX.
    Only JAX process 0 should create one (others pass `enabled=False`).
    """

    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        self._file = self._tb = None
        if enabled:
            os.makedirs(workdir, exist_ok=True)
            self._file = open(os.path.join(workdir, "metrics.jsonl"), "a")
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
    """Reads back `<workdir>/metrics.jsonl`."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]
