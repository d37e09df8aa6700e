"""Training and evaluating a grid of runs (methods x backbones x datasets x seeds), resumably.

<output>/grid.json           the grid: its name, eval settings and every cell's config; a rerun
                             with other settings is refused (a field added since, or removed,
                             passes only at its default value)
<output>/runs/<cell>/        the cell's workdir (`ldx.train`; an interrupted cell resumes)
<output>/cells/<cell>.json   the cell's result, written once it is complete; never rewritten
<output>/floors/<d>-s<k>.json  the real-train vs real-test floor of dataset d, data seed k
<output>/floors/<d>-s<k>-published.json  the published "Original" row of dataset d, data
                             seed k (grids that also score under the published protocol)
<output>/results.json, results.md   every finished cell and the Table-1-style tables,
                             rebuilt from cells/ after each cell

A cell whose result file exists is skipped, so rerunning the same command after an
interruption finishes the grid without repeating work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence

import ml_collections
from absl import logging

from ldx.errors import ConfigError, NonFiniteError, NonFiniteSamples
from ldx.eval import published as published_protocol
from ldx.eval.report import PUBLISHED_METRICS, PUBLISHED_RANKED, grid_tables, write_json
from ldx.eval.scores import EvalConfig, describe, evaluate_run
from ldx.experiment import build_experiment
from ldx.progress import phase
from ldx.train import run_from_state, train
from ldx.train.checkpoint import config_diff, drop_retired


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run of a grid and its full training config."""

    dataset: str
    backbone: str
    method: str
    seed: int
    config: ml_collections.ConfigDict = dataclasses.field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.backbone}-{self.method}-s{self.seed}"


@dataclasses.dataclass(frozen=True)
class Grid:
    """A named list of cells, its table axes and how each cell is evaluated.

    `defaults` is the config the cells were built from (before the grid's overrides): a
    resumed grid tolerates a field that only one side of grid.json has while its value is
    the default here (a field added or removed since; see `config_diff`). `published`, when
    set, also scores every cell under the published (Diffusion-TS) protocol.
    """

    name: str
    cells: tuple[Cell, ...]
    methods: tuple[str, ...]
    backbones: tuple[str, ...]
    datasets: tuple[str, ...]
    eval: EvalConfig
    defaults: ml_collections.ConfigDict | None = dataclasses.field(default=None, repr=False)
    published: published_protocol.PublishedConfig | None = None


def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


def _spec(grid: Grid) -> dict:
    spec = {
        "grid": grid.name,
        "eval": dataclasses.asdict(grid.eval),
        "cells": {c.name: _as_json(c.config) for c in grid.cells},
    }
    if grid.published is not None:
        spec["published"] = dataclasses.asdict(grid.published)
    return spec


def _as_json(config: ml_collections.ConfigDict | None) -> dict:
    return json.loads(config.to_json_best_effort()) if config is not None else {}


def _check_spec(output: str, grid: Grid) -> None:
    """Writes grid.json into a new output folder; in a used one, checks it is the same grid."""
    path = os.path.join(output, "grid.json")
    spec = json.loads(json.dumps(_spec(grid)))  # tuples -> lists, as read back
    if not os.path.exists(path):
        os.makedirs(output, exist_ok=True)
        write_json(path, spec)
        return
    saved = _read_json(path)
    eval_defaults = json.loads(json.dumps(dataclasses.asdict(EvalConfig())))
    cells, saved_cells = spec["cells"], saved.get("cells", {})
    diffs = config_diff(saved.get("grid"), grid.name, prefix="grid")
    diffs += config_diff(saved.get("eval", {}), spec["eval"], eval_defaults, prefix="eval")
    diffs += config_diff(saved.get("published"), spec.get("published"), prefix="published")
    diffs += [f"cell {n}: only in {path}" for n in saved_cells if n not in cells]
    diffs += [f"cell {n}: new" for n in cells if n not in saved_cells]
    defaults = _as_json(grid.defaults)
    for name in (n for n in cells if n in saved_cells):
        saved_cell = drop_retired(saved_cells[name], f"{path}, cell {name}")
        diffs += config_diff(saved_cell, cells[name], defaults, prefix=name)
    if diffs:
        raise ConfigError(
            f"{output} holds results of another grid; {len(diffs)} difference(s) from "
            f"{path}, e.g. {'; '.join(diffs[:3])}. Use a new --output, or the grid that made it."
        )


def finished(output: str, grid: Grid) -> list[dict]:
    """The results of the grid's finished cells, in grid order."""
    paths = [os.path.join(output, "cells", c.name + ".json") for c in grid.cells]
    return [_read_json(p) for p in paths if os.path.exists(p)]


def write_summary(output: str, grid: Grid, command: str) -> None:
    """results.json and results.md from the finished cells."""
    results = finished(output, grid)
    ok = [r for r in results if r.get("status", "ok") == "ok"]
    failed = [r for r in results if r.get("status", "ok") != "ok"]
    write_json(
        os.path.join(output, "results.json"),
        {"grid": grid.name, "command": command, "total": len(grid.cells), "cells": results},
    )
    e = grid.eval
    lines = [
        f"# Grid `{grid.name}`: {len(results)} of {len(grid.cells)} cells finished",
        "",
        f"Made by `{command}`. Metrics on the [0, 1] per-feature scale of each training split, "
        f"N = {e.num_windows} (or all test) windows per set; lower is better everywhere but the "
        "step ratio (1 is best). Cells: "
        "mean ± std over seeds (number of seeds); the discriminative and predictive scores are "
        f"first averaged over {e.repeats} repeats ({e.disc_iterations} / {e.pred_iterations} "
        "Adam steps). The floor row scores real training windows against the same test windows.",
        "",
        grid_tables(ok, grid.methods, grid.backbones, grid.datasets),
    ]
    if grid.published is not None:
        lines += _published_section(ok, grid)
    if failed:
        lines += ["Cells without metrics:", ""]
        lines += [f"* {r['cell']}: {r['status']}: {r.get('error', '')}" for r in failed]
    tmp = os.path.join(output, "results.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(output, "results.md"))


def _cached(path: str, compute: Callable[[dict | None], tuple[dict, dict | None]]) -> dict:
    """compute(the floor stored at `path`, or None) -> (result, its floor); stores a new floor."""
    stored = _read_json(path) if os.path.exists(path) else None
    result, computed = compute(stored)
    if stored is None and computed is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(path, computed)
    return result


def _published_section(ok: list[dict], grid: Grid) -> list[str]:
    """The same tables under the published protocol (cells that have its scores)."""
    p = grid.published
    n = f"{p.num_windows} windows of the series" if p.num_windows else "every window of the series"
    cells = [{**r, **r["published"]} for r in ok if "published" in r]
    return [
        "## Under the published (Diffusion-TS) protocol",
        "",
        f"The same runs scored as in Diffusion-TS's tables (`ldx/eval/published.py`): {n} "
        "against as many generated ones, real data min-max scaled over the whole series, Sines "
        f"unscaled; {p.repeats} repeats ({p.disc_iterations} / {p.pred_iterations} Adam steps), "
        f"the correlational score over {p.corr_subsets} subsets. Cells: mean ± std over seeds of "
        "each seed's mean over repeats. The floor row is the paper's \"Original\": the "
        "predictive score trained and tested on the real windows.",
        "",
        grid_tables(
            cells,
            grid.methods,
            grid.backbones,
            grid.datasets,
            labels={
                k: v for k, v in PUBLISHED_METRICS.items() if k != "context_fid" or p.context_fid
            },
            ranked=PUBLISHED_RANKED if p.context_fid else PUBLISHED_RANKED[:1],
            floor_label="original (real vs real)",
        ),
    ]


def run_cell(
    cell: Cell,
    output: str,
    eval_cfg: EvalConfig,
    published: published_protocol.PublishedConfig | None = None,
) -> dict:
    """Trains (or resumes) and evaluates one cell; returns its result (not yet saved).

    With `published`, the result's "published" entry holds the cell's scores under the
    published protocol (`ldx.eval.published.evaluate_run`).
    """
    workdir = os.path.join(output, "runs", cell.name)
    t0 = time.perf_counter()
    experiment = build_experiment(cell.config)
    try:
        state = train(experiment, workdir)
    except NonFiniteError as e:
        return {"cell": cell.name, "status": "diverged", "error": str(e)}
    t1 = time.perf_counter()
    floors = os.path.join(output, "floors")
    run = run_from_state(workdir, experiment, state)

    def heldout(floor):
        result = evaluate_run(run, eval_cfg, floor)[0]
        return result, result["floor"]

    def publish(original):
        result = published_protocol.evaluate_run(run, published, original)[0]
        return {k: result[k] for k in ("eval", "num_windows", "model", "floor")}, result["floor"]

    try:
        result = _cached(os.path.join(floors, f"{cell.dataset}-s{cell.seed}.json"), heldout)
        t2 = time.perf_counter()
        if published is not None:
            path = os.path.join(floors, f"{cell.dataset}-s{cell.seed}-published.json")
            result["published"] = _cached(path, publish)
    except NonFiniteSamples as e:
        return {"cell": cell.name, **describe(run), "status": "non-finite samples", "error": str(e)}
    timing = {"train_seconds": t1 - t0, "eval_seconds": t2 - t1}
    if published is not None:
        timing["published_seconds"] = time.perf_counter() - t2
    return {"cell": cell.name, "status": "ok", **result, **timing}


def _duration(seconds: float) -> str:
    """3 h 05 min, 12 min, 40 s."""
    minutes = round(seconds / 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min" if minutes else f"{round(seconds)} s"


def run_grid(
    grid: Grid,
    output: str,
    command: str = "",
    cells: Sequence[Cell] | None = None,
    on_cell: Callable[[Cell, str], None] | None = None,
) -> list[dict]:
    """Runs every unfinished cell of `grid` into `output`, then writes the summary.

    Args:
      grid: the grid.
      output: the output folder (created; a folder of another grid is refused).
      command: the command line recorded in results.json / results.md.
      cells: run only these cells (default: all), e.g. one shard of the grid.
      on_cell: called as on_cell(cell, "skipped" | "done") after each cell.

    Returns:
      the results of all finished cells.
    """
    _check_spec(output, grid)
    os.makedirs(os.path.join(output, "cells"), exist_ok=True)
    todo = list(grid.cells if cells is None else cells)
    spent, ran = 0.0, 0  # seconds the cells run here took, and how many: the ETA
    for k, cell in enumerate(todo, 1):
        path = os.path.join(output, "cells", cell.name + ".json")
        if os.path.exists(path):
            logging.info("Skipping finished cell %s", cell.name)
            if on_cell:
                on_cell(cell, "skipped")
            continue
        left = sum(
            not os.path.exists(os.path.join(output, "cells", c.name + ".json")) for c in todo
        )
        eta = f", ETA {_duration(spent / ran * left)} for the {left} left" if ran else ""
        t0 = time.perf_counter()
        with phase(f"cell {k}/{len(todo)} {cell.name} (train and score{eta})"):
            result = run_cell(cell, output, grid.eval, grid.published)
        spent, ran = spent + time.perf_counter() - t0, ran + 1
        write_json(path, result)
        write_summary(output, grid, command)
        if on_cell:
            on_cell(cell, "done")
    write_summary(output, grid, command)
    return finished(output, grid)
