"""Markdown tables and figures for evaluation results.

`run_report` writes one run's table (model beside the real-train floor) and its figures;
`grid_tables` lays a grid's results out like the paper's Table 1 (rows: backbone x method,
columns: datasets, cells: mean ± std over seeds), one table per metric, plus PSLD's rank.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import numpy as np

from ldx.eval.embedding import pca, tsne
from ldx.eval.scores import METRICS
from ldx.progress import phase

METHOD_LABELS = {
    "ld": "LD",
    "ld_kl_annealing": "LD w/ KL annealing",
    "ld_masking": "LD w/ variable masking",
    "ld_skip": "LD w/ skip connections",
    "psld": "PSLD (ours)",
}
# The metrics whose ranking the issue asks for.
RANKED = ("wasserstein", "mmd", "discriminative")
# The published (Diffusion-TS) protocol's metrics (ldx.eval.published.score), ranked by the
# first and last.
PUBLISHED_METRICS = {
    "discriminative": "discriminative score",
    "predictive": "predictive score (MAE)",
    "correlational": "correlational score (5 subsets)",
    "context_fid": "Context-FID",
}
PUBLISHED_RANKED = ("discriminative", "context_fid")


def write_json(path: str, obj) -> None:
    """Writes JSON atomically: a temporary file beside `path`, then a rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def value(entry) -> float:
    """A metric's headline number: the value, or the mean over repeats."""
    return float(entry["mean"] if isinstance(entry, dict) else entry)


def _fmt(entry) -> str:
    if entry is None:
        return "-"
    if isinstance(entry, dict):
        return f"{entry['mean']:.4f} ± {entry['std']:.4f}"
    return f"{entry:.4f}"


def run_markdown(results: dict, figures: list[str]) -> str:
    """One run's report: settings, a model-vs-floor table, links to the figures."""
    floor = results.get("floor") or {}
    lines = [
        f"# Evaluation of `{results['workdir']}`",
        "",
        f"{results['method']} / {results['backbone']} on {results['dataset']}, seed "
        f"{results['seed']}, {results['train_steps']} training steps. N = "
        f"{results['num_windows']} windows per set, {results['scale']}. Lower is better "
        "for every metric but the step ratio (1 is best); learned metrics are mean ± std over "
        f"{results['eval']['repeats']} repeats. The floor scores real training windows against "
        "the same held-out test windows: the best value a model can expect.",
        "",
        "| metric | model | floor (real train vs real test) |",
        "|---|---|---|",
    ]
    for name, (label, _) in METRICS.items():
        model = results["model"].get(name)  # absent from runs scored before the metric existed
        lines.append(f"| {label} | {_fmt(model)} | {_fmt(floor.get(name))} |")
    lines += [""] + [f"![{os.path.splitext(f)[0]}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def _scatter(real_2d, fake_2d, path: str, title: str) -> None:
    import matplotlib.pyplot as plt  # ldx.eval.plotting selected the Agg backend

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(*real_2d.T, s=6, alpha=0.3, c="tab:red", label="real (test)")
    ax.scatter(*fake_2d.T, s=6, alpha=0.3, c="tab:blue", label="generated")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_figures(real: np.ndarray, fake: np.ndarray, folder: str, seed: int = 0) -> list[str]:
    """samples.png, pca.png and tsne.png in `folder`; returns their file names.

    PCA and t-SNE embed each window by its mean over features ([T] vectors, the TimeGAN /
    Diffusion-TS convention), at most 500 windows of each set; PCA axes are fitted on the real
    windows, t-SNE on both sets together.

    Args:
      real: real test windows. # [N, T, D]
      fake: generated windows. # [M, T, D]
      folder: output folder (exists).
      seed: seeds the subsets and the t-SNE layout.
    """
    from ldx.eval.plotting import plot_samples

    k = min(500, len(real), len(fake))
    with phase(f"figures: samples.png, pca.png, tsne.png ({2 * k} windows embedded)"):
        plot_samples(real, fake, os.path.join(folder, "samples.png"))
        rng = np.random.default_rng(seed)
        r = real[rng.choice(len(real), k, replace=False)].mean(-1)  # [k, T]
        f = fake[rng.choice(len(fake), k, replace=False)].mean(-1)  # [k, T]
        _scatter(*pca(r, f), os.path.join(folder, "pca.png"), "PCA of window means")
        y = tsne(np.concatenate([r, f]), seed=seed, perplexity=min(30.0, (2 * k - 2) / 3))
        _scatter(y[:k], y[k:], os.path.join(folder, "tsne.png"), "t-SNE of window means")
    return ["samples.png", "pca.png", "tsne.png"]


def _ranks(cells: dict, metric: str) -> dict:
    """(dataset, backbone) -> 1-based rank of PSLD's seed-mean among the methods present."""
    means = defaultdict(dict)
    for (dataset, backbone, method), runs in cells.items():
        vals = [value(r["model"][metric]) for r in runs]
        means[(dataset, backbone)][method] = float(np.mean(vals))
    out = {}
    for key, by_method in means.items():
        if "psld" in by_method:
            out[key] = 1 + sum(v < by_method["psld"] for m, v in by_method.items() if m != "psld")
    return out


def grid_tables(
    results: list[dict],
    methods,
    backbones,
    datasets,
    labels: dict | None = None,
    ranked: tuple[str, ...] = RANKED,
    floor_label: str = "real train vs real test (floor)",
) -> str:
    """The grid as Markdown, one Table-1-style table per metric.

    Args:
      results: finished cells, each an `evaluate_run` result (with "model" and "floor").
      methods, backbones, datasets: the grid's axes, in table order.
      labels: {metric: table title}, the tables and their order (default: every metric of
        `ldx.eval.scores.METRICS`); a metric no floor has gets no floor row.
      ranked: the metrics of PSLD's rank table.
      floor_label: the floor row's label.

    Returns:
      Markdown: per metric a table (rows backbone x method, then the real-data floor; columns
      datasets; cells mean ± std over seeds, the learned metrics' mean over repeats taken per
      seed first), then PSLD's rank among the methods for each dataset and backbone.
    """
    cells = defaultdict(list)
    floors = defaultdict(list)
    for r in results:
        cells[(r["dataset"], r["backbone"], r["method"])].append(r)
        if r.get("floor"):
            floors[(r["dataset"], r["seed"])] = r["floor"]

    def stat(vals):
        if not vals:
            return "-"
        std = np.std(vals, ddof=1) if len(vals) > 1 else 0.0
        return f"{np.mean(vals):.4f} ± {std:.4f} ({len(vals)})"

    head = "| method | backbone | " + " | ".join(datasets) + " |"
    rule = "|---|---|" + "---|" * len(datasets)
    if labels is None:
        labels = {name: label for name, (label, _) in METRICS.items()}
    out = []
    for metric, label in labels.items():
        out += [f"### {label}", "", head, rule]
        for backbone in backbones:
            for method in methods:
                row = [
                    stat(
                        [
                            value(r["model"][metric])
                            for r in cells.get((d, backbone, method), [])
                            if metric in r["model"]  # cells scored before the metric existed
                        ]
                    )
                    for d in datasets
                ]
                out.append(
                    f"| {METHOD_LABELS.get(method, method)} | {backbone} | "
                    + " | ".join(row)
                    + " |"
                )
        row = [
            stat([value(f[metric]) for (d2, _), f in floors.items() if d2 == d and metric in f])
            for d in datasets
        ]
        if any(c != "-" for c in row):  # a metric without a floor gets no floor row
            out.append(f"| {floor_label} | - | " + " | ".join(row) + " |")
        out.append("")
    if "psld" in methods and len(methods) > 1:
        out += [
            f"### Rank of PSLD among the {len(methods)} methods (1 = best, by seed mean)",
            "",
            "| backbone | metric | " + " | ".join(datasets) + " |",
            "|---|---|" + "---|" * len(datasets),
        ]
        for backbone in backbones:
            for metric in ranked:
                ranks = _ranks(cells, metric)
                row = [str(ranks.get((d, backbone), "-")) for d in datasets]
                out.append(f"| {backbone} | {metric} | " + " | ".join(row) + " |")
        out.append("")
    return "\n".join(out) + "\n"
