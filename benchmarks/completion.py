"""Forecasting and imputation scores of a trained run (LD/PSLD or LDIDP) against simple baselines.

    python -m benchmarks.completion --workdir=W --out=benchmarks/results/completion/NAME.jsonl
    python -m benchmarks.completion --workdir=W --horizons=10,25 \
        --out=benchmarks/results/completion/ldidp/NAME.jsonl   # an LDIDP run (T = 50)

On `--num_windows` held-out test windows (a seeded choice), each task hides part of every
window: `forecast_k` the last k steps, `impute_r` each entry with probability r (independently;
a window left with nothing observed is redrawn). Methods, all scored on the same windows and
masks in the model's scale (min-max [0, 1]; counts for spike data), over the hidden entries only
(ldx/metrics/completion.py):

  ldx            K completions by SMC (`ldx.complete`, P particles per window)
  unconditional  K series from the model's prior (its configured sampler), ignoring the
                 observations
  last_value     each feature's last observed value (the training mean for a feature never seen)
  linear_interp  linear interpolation between observed values (= last_value when forecasting)
  seasonal_naive not run: a window holds no full season to copy from (T = 24: ETTh1's daily
                 season is 24 steps, energy's 144; stocks have none; T = 50 spirals turn once
                 in ~333 bins; the Lorenz spikes are chaotic, not periodic), so it is
                 reported as not applicable

One JSON line per (task, method): mse, mae, crps (point methods: crps = mae), crps_se.
`--table=DIR` prints the README's table from DIR/*.jsonl instead (the last line of each
(dataset, task, method) counts).
"""

from __future__ import annotations

import glob
import json
import os
import time

import jax
import numpy as np
from absl import app, flags, logging

from benchmarks.common import emit
from ldx import compilation_cache
from ldx.batching import draw, make_generate_fn
from ldx.complete import complete
from ldx.metrics.completion import completion_scores, last_value, linear_interpolation
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run.")
_NUM = flags.DEFINE_integer("num_windows", 32, "Held-out windows scored.")
_K = flags.DEFINE_integer("num_completions", 32, "K, completions per window.")
_P = flags.DEFINE_integer("num_particles", 128, "P, SMC particles per window.")
_HORIZONS = flags.DEFINE_list("horizons", ["6", "12"], "Forecast horizons k (steps).")
_RATES = flags.DEFINE_list("rates", ["0.3", "0.5", "0.7"], "Imputation missing rates.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the windows, masks and draws.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
_TABLE = flags.DEFINE_string("table", None, "Print the markdown table of DIR/*.jsonl and exit.")
METHODS = ("ldx", "unconditional", "last_value", "linear_interp")


def masks(shape, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """{task: mask [N, T, D], 1 = observed} for the flags' horizons and rates."""
    n, t, _ = shape
    out = {}
    for k in map(int, _HORIZONS.value):
        mask = np.ones(shape, bool)
        mask[:, t - k :] = False
        out[f"forecast_{k}"] = mask
    for r in map(float, _RATES.value):
        mask = rng.random(shape) >= r
        while (empty := ~mask.reshape(n, -1).any(1)).any():
            mask[empty] = rng.random((int(empty.sum()), *shape[1:])) >= r
        out[f"impute_{r}"] = mask
    return out


def table(folder: str) -> str:
    """Markdown: CRPS (+- its standard error over windows) and MSE per dataset, task, method;
    the best CRPS in bold, and whether ldx beats every baseline on CRPS."""
    rows = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.jsonl"))):
        for line in open(path):
            r = json.loads(line)
            if "crps" in r:
                rows[r["dataset"], r["task"], r["method"]] = r
    head = "| dataset | task | " + " | ".join(METHODS) + " | ldx best on CRPS |"
    out = [head, "|" + " --- |" * (len(METHODS) + 3)]
    for data, task in dict.fromkeys((d, t) for d, t, _ in rows):
        got = {m: rows[data, task, m] for m in METHODS if (data, task, m) in rows}
        best = min(r["crps"] for r in got.values())
        cells = []
        for m in METHODS:
            if m not in got:
                cells.append("")
                continue
            c = f"{got[m]['crps']:.4f} ± {got[m]['crps_se']:.4f} ({got[m]['mse']:.5f})"
            cells.append(f"**{c}**" if got[m]["crps"] == best else c)
        wins = "yes" if "ldx" in got and got["ldx"]["crps"] == best else "no"
        out.append(f"| {data} | {task} | " + " | ".join(cells) + f" | {wins} |")
    return "\n".join(out)


def main(argv):
    del argv
    if _TABLE.value:
        print(table(_TABLE.value))
        return
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required (or --table=DIR).")
    logging.set_verbosity(logging.WARNING)
    compilation_cache.enable()  # the tasks share one program: compiled once
    run = load_run(_WORKDIR.value)
    exp = run.experiment
    rng = np.random.default_rng(_SEED.value)
    expand = exp.dataset.scaler.expand  # every column, as a user's windows hold
    test = expand(exp.dataset.test)
    truth = test[np.sort(rng.choice(len(test), min(_NUM.value, len(test)), replace=False))]
    n, k = len(truth), _K.value
    fallback = expand(exp.dataset.train).mean(axis=(0, 1))  # [D]
    key = jax.random.key(_SEED.value)
    generate = make_generate_fn(run.model_fn, exp.generate)
    prior = expand(draw(generate, run.params(True), jax.random.fold_in(key, 1), n * k, 1000))
    prior = prior.reshape(n, k, *truth.shape[1:])  # [N, K, T, D]
    base = dict(**exp.describe(), num_windows=n, num_completions=k, step=int(run.state.step))
    data_units = exp.dataset.scaler.inverse_transform(truth)  # what a user passes in
    for i, (task, mask) in enumerate(masks(truth.shape, rng).items()):
        start = time.perf_counter()
        out = complete(run, data_units, mask, jax.random.fold_in(key, 2 + i), k, _P.value)
        seconds = time.perf_counter() - start
        methods = {
            "ldx": out["samples_normalized"],
            "unconditional": prior,
            "last_value": last_value(truth, mask, fallback)[:, None],
            "linear_interp": linear_interpolation(truth, mask, fallback)[:, None],
        }
        for name, samples in methods.items():
            record = dict(base, task=task, method=name, **completion_scores(samples, truth, mask))
            if name == "ldx":
                record.update(
                    num_particles=_P.value,
                    seconds=round(seconds, 1),
                    median_min_ess=float(np.median(out["min_ess"])),
                    median_ancestors=float(np.median(out["num_ancestors"])),
                )
            emit(record, _OUT.value)
        emit(dict(base, task=task, method="seasonal_naive", note="not applicable"), _OUT.value)


if __name__ == "__main__":
    app.run(main)
