"""Trains every method x backbone x dataset and reports non-finite steps (resumable).

    python -m benchmarks.stability --num_steps=1000 --out=benchmarks/results/stability.jsonl

Each combination trains the default config for --num_steps on the dataset; the
record holds the number of skipped (non-finite) steps, whether every logged loss
was finite, and the first/last logged losses. Combinations already in --out are
skipped, so an interrupted sweep continues where it stopped.
"""

import json
import os
import shutil
import tempfile
import time

from absl import app, flags

from benchmarks.common import emit
from configs.default import get_config
from ldx import compilation_cache
from ldx.experiment import build_experiment
from ldx.ld.objective import METHODS
from ldx.train import train
from ldx.train.writer import read_metrics

_DATASETS = flags.DEFINE_list("datasets", ["stocks", "energy", "etth1", "fmri"], "Datasets.")
_METHODS = flags.DEFINE_list("methods", list(METHODS), "Methods.")
_BACKBONES = flags.DEFINE_list("backbones", ["gru", "lstm", "transformer"], "Backbones.")
_STEPS = flags.DEFINE_integer("num_steps", 1000, "Training steps per combination.")
_OVERRIDES = flags.DEFINE_multi_string("set", [], "Config overrides section.field=value.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/stability.jsonl", "JSONL output.")


def done(path: str) -> set[tuple]:
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {(r["data"], r["method"], r["backbone"], r["num_steps"], r["overrides"]) for r in rows}


def main(argv):
    del argv
    compilation_cache.enable()
    finished = done(_OUT.value)
    overrides = ",".join(_OVERRIDES.value)
    for data in _DATASETS.value:
        for method in _METHODS.value:
            for backbone in _BACKBONES.value:
                if (data, method, backbone, _STEPS.value, overrides) in finished:
                    continue
                config = get_config()
                config.method, config.model.backbone, config.data.name = method, backbone, data
                config.train.num_steps = _STEPS.value
                config.train.checkpoint_every = _STEPS.value
                config.train.progress_bar = False
                for item in _OVERRIDES.value:
                    key, value = item.split("=")
                    section, field = key.split(".")
                    config[section][field] = type(config[section][field])(value)
                workdir = tempfile.mkdtemp(prefix="ldx_stability_")
                start = time.perf_counter()
                try:
                    state = train(build_experiment(config), workdir)
                    rows = read_metrics(workdir)
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                losses = [r["loss"] for r in rows]
                emit(
                    {
                        "benchmark": "stability",
                        "data": data,
                        "method": method,
                        "backbone": backbone,
                        "num_steps": _STEPS.value,
                        "overrides": overrides,
                        "skipped_steps": int(state.skipped),
                        "all_logged_losses_finite": all(map(_finite, losses)),
                        "first_loss": losses[0],
                        "last_loss": losses[-1],
                        "max_grad_norm": max(r["grad_norm"] for r in rows),
                        "seconds": time.perf_counter() - start,
                    },
                    _OUT.value,
                )


def _finite(v: float) -> bool:
    return v == v and abs(v) != float("inf")


if __name__ == "__main__":
    app.run(main)
