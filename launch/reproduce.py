"""Trains and evaluates a grid of methods x backbones x datasets x seeds; writes the tables.

    python -m launch.reproduce --grid=smoke --output=/tmp/grid_smoke
    nice -n 10 python -m launch.reproduce --grid=cpu --output=benchmarks/results/cpu_grid
    python -m launch.reproduce --grid=bench --output=DIR --datasets=energy,stocks   # those cells

Grids are defined in configs/grids.py. Writes <output>/results.json and results.md (one
Table-1-style table per metric, mean ± std over seeds) and keeps every cell's workdir under
<output>/runs. Resumable: rerun the same command and finished cells are skipped; an output
folder of another grid is refused.
"""

import shlex
import sys

from absl import app, flags, logging

from configs import default, grids
from launch import common
from ldx.data import dataset_available, dataset_path
from ldx.errors import ConfigError, DataError
from ldx.eval.grid import Cell, Grid, run_grid
from ldx.eval.published import PublishedConfig
from ldx.eval.scores import EvalConfig

_GRID = flags.DEFINE_enum("grid", None, grids.NAMES, "Which grid of configs/grids.py.")
_OUTPUT = flags.DEFINE_string("output", None, "Output folder (resumable).")
_DATASETS = flags.DEFINE_list(
    "datasets",
    None,
    "Run only these datasets' cells now; the output stays the whole grid's (its tables show "
    "the finished cells), and a rerun without the flag runs the rest.",
)
flags.mark_flags_as_required(["grid", "output"])


def build_grid(name: str) -> Grid:
    """The grid `name` with every cell's training config, seed by seed."""
    g = grids.get_grid(name)
    cells = tuple(
        Cell(d, b, m, s, grids.cell_config(g, m, b, d, s))
        for s in g.seeds
        for d in g.datasets
        for b in g.backbones
        for m in g.methods
    )
    return Grid(
        name,
        cells,
        tuple(g.methods),
        tuple(g.backbones),
        tuple(g.datasets),
        EvalConfig(**g.eval),
        defaults=default.get_config(g.base or None),
        published=PublishedConfig(**g.published) if g.get("published") else None,
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    grid = build_grid(_GRID.value)
    chosen = _DATASETS.value or list(grid.datasets)
    unknown = sorted(set(chosen) - set(grid.datasets))
    if unknown:
        raise ConfigError(
            f"--datasets: {', '.join(unknown)} not in grid {grid.name!r} "
            f"(its datasets: {', '.join(grid.datasets)})"
        )
    cells = [c for c in grid.cells if c.dataset in chosen]
    for cell in cells:
        data = cell.config.data
        if not data.path and not dataset_available(data.name, data.data_dir or None):
            raise DataError(
                f"grid {grid.name!r} needs dataset {data.name!r}: "
                f"{dataset_path(data.name, data.data_dir or None)} not found; download it with "
                f"`python -m launch.data --name={data.name}` or set LDX_DATA_DIR."
            )
    command = "python -m launch.reproduce " + shlex.join(sys.argv[1:])
    total = len(cells)
    done = iter(range(1, total + 1))

    def progress(cell, status):
        logging.info("[%d/%d] %s: %s", next(done), total, cell.name, status)
        print(f"[{cell.name}] {status}", flush=True)

    run_grid(grid, _OUTPUT.value, command, cells=cells, on_cell=progress)


if __name__ == "__main__":
    common.run(main)
