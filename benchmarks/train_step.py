"""Train-step throughput of LD and PSLD per backbone, and how the step's cost grows with T and B.

    # steps/s and achieved GFLOP/s at the Energy window shape (T=24, D=28), B = 128 and 1024:
    python -m benchmarks.train_step --out=benchmarks/results/train_step.jsonl
    # cost vs window length T and batch B, with the fitted log-log exponent:
    python -m benchmarks.train_step --mode=scaling --out=benchmarks/results/scaling.jsonl

Throughput mode times LD and PSLD of one backbone and batch side by side (interleaved) on one
synthetic batch of the given shape, and reads each compiled step's FLOPs from XLA's cost
analysis; the peak is a [1024, 1024] f32 matmul timed in the same interleaved rounds. Scaling
mode times one method per backbone at each T (fixed B) and each B (fixed T) and fits
cost ~ size^k.
"""

import numpy as np
from absl import app, flags

from benchmarks.common import (
    TrainStep,
    emit,
    experiment_config,
    loglog_exponent,
    matmul_runner,
    median_ms,
    time_interleaved,
)

_MODE = flags.DEFINE_enum("mode", "throughput", ["throughput", "scaling"], "What to measure.")
_BACKBONES = flags.DEFINE_list("backbones", ["gru", "lstm", "transformer"], "Backbones.")
_METHODS = flags.DEFINE_list("methods", ["ld", "psld"], "Methods (throughput mode).")
_BATCHES = flags.DEFINE_list("batch_sizes", ["128", "1024"], "Batch sizes B (throughput).")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 24, "Window length T (throughput; B sweep).")
_FEATURES = flags.DEFINE_integer("features", 28, "Features D.")
_SCALE_METHOD = flags.DEFINE_string("scale_method", "ld", "Method timed in scaling mode.")
_SCALE_T = flags.DEFINE_list("scale_seq_lens", ["24", "48", "96", "192", "384", "512"], "T sweep.")
_SCALE_B = flags.DEFINE_list("scale_batch_sizes", ["32", "128", "512", "2048"], "B sweep.")
_SCALE_FIXED_B = flags.DEFINE_integer("scale_fixed_batch", 128, "B during the T sweep.")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed repeats (interleaved).")
_INNER = flags.DEFINE_integer("inner", 3, "Steps per timed repeat.")
_CS_FRACTION = flags.DEFINE_float("cs_batch_fraction", None, "PSLD override; None = default.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")


def _config(method, backbone, batch, seq_len):
    extra = {}
    if method == "psld" and _CS_FRACTION.value is not None:
        extra["cs_batch_fraction"] = _CS_FRACTION.value
    return experiment_config(method, backbone, batch, seq_len, _FEATURES.value, **extra)


def throughput():
    matmul, matmul_flops = matmul_runner()
    for backbone in _BACKBONES.value:
        for batch in (int(b) for b in _BATCHES.value):
            steps = {
                m: TrainStep(_config(m, backbone, batch, _SEQ_LEN.value)) for m in _METHODS.value
            }
            flops = {m: s.flops() for m, s in steps.items()}
            # The peak is timed in the same interleaved rounds, under the same load.
            runs = {"matmul": matmul, **{m: s.run for m, s in steps.items()}}
            times = time_interleaved(runs, _REPEATS.value, inner=_INNER.value)
            peak = matmul_flops / float(np.median(times["matmul"])) / 1e9
            for method, step in steps.items():
                seconds = float(np.median(times[method]))
                gflops = flops[method] / seconds / 1e9 if flops[method] else None
                record = {
                    "benchmark": "train_step",
                    "method": method,
                    "backbone": backbone,
                    "batch_size": batch,
                    "seq_len": _SEQ_LEN.value,
                    "features": _FEATURES.value,
                    "num_params": step.num_params,
                    "step_ms": 1e3 * seconds,
                    "steps_per_s": 1.0 / seconds,
                    "gflop_per_step": flops[method] and flops[method] / 1e9,
                    "achieved_gflops": gflops,
                    "matmul_peak_gflops": peak,
                    "fraction_of_peak": gflops and gflops / peak,
                    "cs_batch_fraction": step.config.objective.cs_batch_fraction,
                }
                if method == "psld" and "ld" in times:
                    record["psld_ld_ratio"] = seconds / float(np.median(times["ld"]))
                emit(record, _OUT.value)


def _sweep(backbone, axis, sizes):
    costs, flop_counts = [], []
    for size in sizes:
        batch, seq_len = (size, _SEQ_LEN.value) if axis == "B" else (_SCALE_FIXED_B.value, size)
        step = TrainStep(_config(_SCALE_METHOD.value, backbone, batch, seq_len))
        flops = step.flops()
        ms = median_ms(time_interleaved({"s": step.run}, _REPEATS.value, inner=_INNER.value)["s"])
        costs.append(ms)
        flop_counts.append(flops)
        emit(
            {
                "benchmark": "train_step_scaling",
                "method": _SCALE_METHOD.value,
                "backbone": backbone,
                "axis": axis,
                "batch_size": batch,
                "seq_len": seq_len,
                "step_ms": ms,
                "gflop_per_step": flops and flops / 1e9,
            },
            _OUT.value,
        )
        del step
    return costs, flop_counts


def scaling():
    for backbone in _BACKBONES.value:
        for axis, sizes in (("T", _SCALE_T.value), ("B", _SCALE_B.value)):
            sizes = [int(s) for s in sizes]
            costs, flop_counts = _sweep(backbone, axis, sizes)
            emit(
                {
                    "benchmark": "train_step_scaling_fit",
                    "method": _SCALE_METHOD.value,
                    "backbone": backbone,
                    "axis": axis,
                    "sizes": sizes,
                    "step_ms": costs,
                    "exponent": loglog_exponent(sizes, costs),
                    # From XLA's FLOP counts: the same fit, free of timing noise.
                    "flop_exponent": None
                    if None in flop_counts
                    else loglog_exponent(sizes, flop_counts),
                    # Above the smallest sizes fixed overheads fade; the tail exponent is the
                    # asymptotic one.
                    "exponent_upper_half": loglog_exponent(
                        sizes[len(sizes) // 2 - 1 :], costs[len(sizes) // 2 - 1 :]
                    ),
                },
                _OUT.value,
            )


def main(argv):
    del argv
    if _MODE.value == "throughput":
        throughput()
    else:
        scaling()


if __name__ == "__main__":
    app.run(main)
