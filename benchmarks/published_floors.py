"""The published protocol's real-vs-real rows against Diffusion-TS's "Original" predictive scores.

    python -m benchmarks.published_floors [--datasets=sines,stocks,etth1,energy,fmri]

One JSON line per dataset: ldx's predictive score trained and tested on every real window (the
published scale, 5000 steps, 5 repeats, mean +- 95% t-interval) beside the published value.
Datasets whose file is missing are skipped with a reason.
"""

import json
import time

from absl import app, flags

from ldx.data import DataConfig, dataset_available
from ldx.eval.published import PublishedConfig, floor, reference

# Diffusion-TS (Yuan & Qiao 2024), Table: "Original" predictive score, mean +- 95% interval.
PUBLISHED = {
    "sines": (0.094, 0.001),
    "stocks": (0.036, 0.001),
    "etth1": (0.121, 0.005),
    "energy": (0.250, 0.003),
    "fmri": (0.090, 0.001),
}
_DATASETS = flags.DEFINE_list("datasets", list(PUBLISHED), "Datasets to score.")
_ITERS = flags.DEFINE_integer("pred_iterations", 5000, "Predictive GRU Adam steps.")


def main(_):
    for name in _DATASETS.value:
        if not dataset_available(name):
            print(json.dumps({"dataset": name, "skipped": "data file not found"}), flush=True)
            continue
        cfg = PublishedConfig(pred_iterations=_ITERS.value)
        start = time.perf_counter()
        real, _ = reference(DataConfig(name=name), cfg)
        row = floor(real, cfg)["predictive"]
        mean, half = PUBLISHED[name]
        print(
            json.dumps(
                {
                    "dataset": name,
                    "num_windows": len(real),
                    "predictive": row["mean"],
                    "interval": row["interval"],
                    "published": mean,
                    "published_interval": half,
                    "within": abs(row["mean"] - mean) <= half + row["interval"],
                    "seconds": round(time.perf_counter() - start, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)
