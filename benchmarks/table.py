"""Prints the markdown table of benchmarks/README.md from the latest lines of benchmarks/results.

    python -m benchmarks.table [--results=benchmarks/results]

Each row: what, the figure, the target, whether it is met, and the command that measured it.
Only the newest record of each case is used (files are appended to, oldest first).
"""

import glob
import json
import os

from absl import app, flags

from benchmarks.common import loglog_exponent

_RESULTS = flags.DEFINE_string("results", "benchmarks/results", "Folder of *.jsonl results.")

_CMD = {
    "train_step": "python -m benchmarks.train_step",
    "train_step_scaling_fit": "python -m benchmarks.train_step --mode=scaling",
    "torch_gru_vae": "python -m benchmarks.torch_gru_vae",
    "latent_chain": "python -m benchmarks.sampling",
    "decode": "python -m benchmarks.sampling",
    "kv_cache": "python -m benchmarks.sampling",
    "psld_step_ratio": "python -m benchmarks.psld_step_ratio",
    "multiseed": "python benchmarks/multiseed.py --seeds=8",
    "dependency": "python -m benchmarks.dependency",
}


def _latest(records, keys):
    """The newest record per value of `keys` (later lines win), in first-seen order."""
    out = {}
    for r in records:
        out[tuple(r.get(k) for k in keys)] = r
    return list(out.values())


def _met(value, target, at_most=False):
    if target is None or value is None:
        return ""
    ok = value <= target if at_most else value >= target
    return "yes" if ok else "no"


def rows(records):
    by = {}
    for r in records:
        if r.get("benchmark") == "train_step_scaling":
            r = {**r, "size": r["batch_size"] if r["axis"] == "B" else r["seq_len"]}
        by.setdefault(r.get("benchmark"), []).append(r)
    out = []

    def row(what, figure, target, met, bench):
        out.append((what, figure, target, met, f"`{_CMD[bench]}`"))

    for r in _latest(by.get("torch_gru_vae", []), ["batch_size"]):
        threads = ", ".join(f"{k}: {v:.0f} ms" for k, v in r["torch_step_ms_by_threads"].items())
        row(
            f"GRU seq-VAE step, ldx vs PyTorch eager (B={r['batch_size']}, {r['ldx_params']} "
            f"params each; ldx {r['ldx_step_ms']:.0f} ms, torch {threads})",
            f"{r['speedup']:.2f}x",
            ">= 3x",
            _met(r["speedup"], 3.0),
            "torch_gru_vae",
        )
    for r in _latest(by.get("psld_step_ratio", []), ["backbone", "cs_batch_fraction"]):
        row(
            f"PSLD / LD step time, {r['backbone']}, cs_batch_fraction={r['cs_batch_fraction']}",
            f"{r['ratio']:.2f}",
            "<= 1.15",
            _met(r["ratio"], 1.15, at_most=True),
            "psld_step_ratio",
        )
    for r in _latest(by.get("latent_chain", []), ["sampler", "num_samples"]):
        target = r.get("target")
        row(
            f"{r['sampler'].upper()} {r['chain_steps']} steps, one scan vs Python loop, "
            f"N={r['num_samples']} ({r['scan_samples_per_s']:.1f} vs "
            f"{r['loop_samples_per_s']:.1f} samples/s)",
            f"{r['speedup']:.2f}x",
            f">= {target:.0f}x" if target else "",
            _met(r["speedup"], target),
            "latent_chain",
        )
    for r in _latest(by.get("decode", []), ["backbone"]):
        row(
            f"Autoregressive decoding, {r['backbone']}, N={r['num_series']}, T={r['seq_len']}",
            f"{r['series_per_s']:.0f} series/s",
            "",
            "",
            "decode",
        )
    for r in _latest(by.get("kv_cache", []), ["seq_len"]):
        row(
            f"Transformer decoding, KV cache vs recomputed prefix, T={r['seq_len']} "
            f"({r['kv_cache_series_per_s']:.0f} vs {r['recompute_series_per_s']:.0f} series/s)",
            f"{r['speedup']:.1f}x",
            "",
            "",
            "kv_cache",
        )
    for r in _latest(by.get("dependency", []), ["impl"]):
        if r["impl"] == "speedup":
            for name, key, target in (
                ("brute-force loop", "loop_over_vectorised", 20.0),
                ("Captum", "captum_over_vectorised", 1.0),
            ):
                row(
                    f"Dependency estimator vs {name} (B={r['B']}, T={r['T']}, S={r['S']})",
                    f"{r[key]:.1f}x",
                    f"> {target:.0f}x" if target == 1.0 else f">= {target:.0f}x",
                    _met(r[key], target),
                    "dependency",
                )
    for r in _latest(by.get("multiseed", []), ["backbone", "method", "seeds"]):
        row(
            f"{r['seeds']} seeds in one vmapped program vs 1 seed, {r['method']} "
            f"{r['backbone']} (cpu grid)",
            f"{r['time_ratio_vs_one_seed']:.2f}x the time",
            "<= 3x" if r["seeds"] == 8 else "",
            _met(r["time_ratio_vs_one_seed"], 3.0, at_most=True) if r["seeds"] == 8 else "",
            "multiseed",
        )
    for r in _latest(by.get("train_step", []), ["method", "backbone", "batch_size"]):
        gf = r.get("achieved_gflops")
        peak = f", {gf:.1f} GFLOP/s = {100 * r['fraction_of_peak']:.0f}% of " if gf else ", "
        row(
            f"Train step {r['method']} {r['backbone']} B={r['batch_size']} T={r['seq_len']} "
            f"D={r['features']}",
            f"{r['steps_per_s']:.2f} steps/s{peak}{r['matmul_peak_gflops']:.0f} GFLOP/s peak"
            + (f"; PSLD/LD {r['psld_ld_ratio']:.2f}" if "psld_ld_ratio" in r else ""),
            "",
            "",
            "train_step",
        )
    sweeps = {}
    for r in _latest(by.get("train_step_scaling", []), ["method", "backbone", "axis", "size"]):
        sweeps.setdefault((r["method"], r["backbone"], r["axis"]), []).append(r)
    for (method, backbone, axis), points in sweeps.items():
        points = sorted(points, key=lambda r: r["size"])
        if len(points) < 2:
            continue
        sizes = [r["size"] for r in points]
        time_k = loglog_exponent(sizes, [r["step_ms"] for r in points])
        flops = [r["gflop_per_step"] for r in points]
        flop_k = f"{loglog_exponent(sizes, flops):.2f}" if None not in flops else "n/a"
        row(
            f"Step cost vs {axis} = {sizes[0]}..{sizes[-1]}, {method} {backbone}: fitted "
            f"exponent of time (of XLA FLOPs); "
            + ", ".join(f"{n}: {r['step_ms']:.0f} ms" for n, r in zip(sizes, points)),
            f"{time_k:.2f} ({flop_k})",
            "",
            "",
            "train_step_scaling_fit",
        )
    return out


def main(argv):
    del argv
    records = []
    for path in sorted(glob.glob(os.path.join(_RESULTS.value, "*.jsonl"))):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    print("| what | figure | target | met? | command |")
    print("| --- | --- | --- | --- | --- |")
    for cells in rows(records):
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    app.run(main)
