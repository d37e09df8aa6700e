"""PSLD / LD train-step time, same backbone, batch and data, measured side by side.

    python -m benchmarks.psld_step_ratio --backbones=gru,lstm,transformer --batch_size=128 \
        --data=energy --out=benchmarks/results/psld_step_ratio.jsonl

The paper reports 2h50m (PSLD) vs 2h10m (LD) of training, a ratio of 1.31.
"""

import numpy as np
from absl import app, flags

from benchmarks.common import TrainStep, emit, time_interleaved
from configs.default import get_config
from ldx.data import get_batch
from ldx.experiment import build_experiment

_BACKBONES = flags.DEFINE_list("backbones", ["gru", "lstm", "transformer"], "Backbones.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size B.")
_DATA = flags.DEFINE_string("data", "energy", "Dataset name (energy: T=24, D=28).")
_REPEATS = flags.DEFINE_integer("repeats", 30, "Timed repeats per method (interleaved).")
_INNER = flags.DEFINE_integer("inner", 5, "Steps per timed repeat.")
_FRACTIONS = flags.DEFINE_list(
    "cs_batch_fractions", ["1.0", "0.25"], "PSLD config.objective.cs_batch_fraction values to time."
)
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")


def step_runner(method: str, backbone: str, cs_batch_fraction: float = 1.0):
    config = get_config()
    config.method, config.model.backbone = method, backbone
    config.objective.cs_batch_fraction = cs_batch_fraction
    config.data.name, config.train.batch_size = _DATA.value, _BATCH.value
    batch = get_batch(build_experiment(config).dataset.train, _BATCH.value, 0, 0)
    return TrainStep(config, batch).run


def main(argv):
    del argv
    for backbone in _BACKBONES.value:
        runners = {"ld": step_runner("ld", backbone)}
        for f in _FRACTIONS.value:
            runners[f"psld@{f}"] = step_runner("psld", backbone, float(f))
        times = time_interleaved(runners, _REPEATS.value, inner=_INNER.value)
        ld = np.median(times["ld"])
        for f in _FRACTIONS.value:
            psld = np.median(times[f"psld@{f}"])
            emit(
                {
                    "benchmark": "psld_step_ratio",
                    "backbone": backbone,
                    "batch_size": _BATCH.value,
                    "data": _DATA.value,
                    "cs_batch_fraction": float(f),
                    "ld_step_ms": 1e3 * ld,
                    "psld_step_ms": 1e3 * psld,
                    "ratio": psld / ld,
                    "target": 1.15,
                    "paper": 1.31,
                },
                _OUT.value,
            )


if __name__ == "__main__":
    app.run(main)
