"""Grids for `launch.reproduce`: methods x backbones x datasets x seeds, and how each is scored.

    python -m launch.reproduce --grid=smoke --output=/tmp/grid_smoke       # seconds-long, tests
    nice -n 10 python -m launch.reproduce --grid=cpu --output=benchmarks/results/cpu_grid
    nice -n 10 python -m launch.reproduce --grid=bench --output=benchmarks/results/bench
    nice -n 10 python -m launch.reproduce --grid=earthquakes \
        --output=benchmarks/results/earthquakes                            # Table 1, CPU sizes
    python -m launch.reproduce --grid=paper --output=/data/paper_grid      # needs an accelerator

A grid is a ConfigDict: its axes, `base` (the argument of configs/default.py's get_config),
`overrides` (("section.field", value) pairs set on every cell), `method_overrides` (such pairs
per method), `eval` (fields of ldx.eval.scores.EvalConfig) and, optionally, `published`
(fields of ldx.eval.published.PublishedConfig: also score every cell under the published
protocol). `cell_config` builds the training config of one cell. Cells run seed by seed, so
a partial grid already covers every method x backbone x dataset once.
"""

import ml_collections

from configs import default

METHODS = ("ld", "ld_kl_annealing", "ld_masking", "ld_skip", "psld")
DATASETS = ("sines", "stocks", "energy", "etth1", "fmri")
NAMES = ("smoke", "cpu", "bench", "earthquakes", "paper")


def _pairs(**sections) -> tuple:
    """("section.field", value) pairs, e.g. _pairs(train=dict(num_steps=5)) is
    (("train.num_steps", 5),)."""
    return tuple((f"{s}.{k}", v) for s, fields in sections.items() for k, v in fields.items())


def _quiet(**train) -> dict:
    # Grid runs log little, keep one checkpoint and draw no samples of their own.
    return dict(progress_bar=False, sample_after=False, keep_checkpoints=1, **train)


def _kl_warmup(num_steps: int) -> dict:
    # As configs/ld_kl_annealing.py: beta reaches its full value halfway through training.
    return {"ld_kl_annealing": _pairs(objective=dict(kl_warmup_steps=num_steps // 2))}


def get_grid(name: str) -> ml_collections.ConfigDict:
    """Returns the grid `name`, one of NAMES."""
    grid = ml_collections.ConfigDict()
    grid.name = name
    grid.methods = METHODS
    grid.backbones = ("lstm", "transformer")  # The paper's Table 1 backbones.
    grid.datasets = DATASETS
    grid.base = ""
    if name == "smoke":  # Two cells of the smoke config, scored with tiny learned metrics.
        grid.methods = ("ld", "psld")
        grid.backbones = ("gru",)
        grid.datasets = ("sines",)
        grid.seeds = (0,)
        grid.base = "smoke"
        grid.overrides = _pairs(train=_quiet(checkpoint_every=6))
        grid.method_overrides = {}
        grid.eval = dict(
            num_windows=32, repeats=2, disc_iterations=10, pred_iterations=10, batch_size=16
        )
        grid.published = dict(
            num_windows=40, repeats=2, disc_iterations=5, pred_iterations=5, fid_iterations=2
        )
    elif name in ("cpu", "earthquakes"):
        # cpu: sized for about two to three hours on 2 shared CPU cores. earthquakes: the
        # paper's Table 1 dataset alone at the same sizes (5 methods x LSTM, Transformer).
        steps = 600
        grid.seeds = (0, 1)
        if name == "earthquakes":
            grid.datasets = ("earthquakes",)
        grid.overrides = _pairs(
            model=dict(width=32, latent_dim=8, unet_channels=(16, 32), unet_emb=32),
            train=_quiet(
                num_steps=steps,
                batch_size=64,
                warmup_steps=60,
                log_every=100,
                checkpoint_every=steps,
            ),
            sample=dict(batch_size=500),
        )
        grid.method_overrides = _kl_warmup(steps)
        # Cheaper than the TimeGAN protocol (1000 windows, 5 repeats, 2000 / 5000 Adam steps):
        # the learned metrics dominate a cell's evaluation time on a shared CPU.
        grid.eval = dict(num_windows=500, repeats=3, disc_iterations=1000, pred_iterations=1000)
    elif name == "bench":
        # Both protocols on the 2-core CPU: the default model (width 64, latent 16) with the
        # LSTM of Table 1, five methods, two seeds, 1000 training steps; 2-3 min a cell (ETTh1)
        # to about 5 (energy, fMRI) on a quiet machine, so two to three hours. The published
        # protocol is capped (2000 real windows, 1000 / 1000 scorer steps x 5, TS2Vec 200
        # steps): its exact form takes 3 min a cell on sines and over 8 on energy here; the
        # `paper` grid has it.
        steps = 1000
        grid.backbones = ("lstm",)
        grid.seeds = (0, 1)
        grid.overrides = _pairs(
            train=_quiet(num_steps=steps, warmup_steps=100, checkpoint_every=steps),
            sample=dict(batch_size=1000),
        )
        grid.method_overrides = _kl_warmup(steps)
        grid.eval = dict(num_windows=1000, repeats=3, disc_iterations=1000, pred_iterations=1000)
        grid.published = dict(
            num_windows=2000, disc_iterations=1000, pred_iterations=1000, fid_iterations=200
        )
    elif name == "paper":  # The paper's comparison at full size: 5 methods, 2 backbones, 3 seeds.
        steps = 20000
        grid.seeds = (0, 1, 2)
        grid.datasets = (*DATASETS, "earthquakes")
        grid.overrides = _pairs(
            train=_quiet(num_steps=steps, warmup_steps=500, checkpoint_every=2000, log_every=200)
        )
        grid.method_overrides = _kl_warmup(steps)
        grid.eval = dict(num_windows=1000, repeats=5)  # The TimeGAN protocol.
        grid.published = dict(num_windows=0)  # And Diffusion-TS's, exactly.
    else:
        raise ValueError(f"Unknown grid {name!r}; expected one of {NAMES}.")
    return grid


def cell_config(
    grid: ml_collections.ConfigDict, method: str, backbone: str, dataset: str, seed: int
) -> ml_collections.ConfigDict:
    """The training config of one cell: the base config, the grid's overrides, the cell's axes,
    then the method's overrides."""
    config = default.get_config(grid.base or None)
    config.update_from_flattened_dict(dict(grid.overrides))
    config.method = method
    config.model.backbone = backbone
    config.data.name = dataset
    config.seed = seed
    config.update_from_flattened_dict(dict(grid.method_overrides.get(method, ())))
    return config
