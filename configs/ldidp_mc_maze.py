"""LDIDP on NLB MC_Maze_Small spikes (5 ms bins, 140-bin trials, 107 held-in + 35 held-out).

    LDX_DATA_DIR=../shared/data python -m launch.train --config=configs/ldidp_mc_maze.py \
        --workdir=/tmp/ldidp_mc_maze
    python -m launch.train --config=configs/ldidp_mc_maze.py:smoke --workdir=/tmp/ldidp_smoke
    python -m launch.evaluate --workdir=/tmp/ldidp_mc_maze

Trains on 60 of the 75 training trials (data.train_fraction = 0.8); the other 15 are the local
validation trials on which launch.evaluate scores co-smoothing. The encoder sees the held-in
neurons only; the Poisson likelihood covers all 142. Overrides configs/ldidp_spiral.py.
"""

import ml_collections

from configs import ldidp_spiral


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Returns the MC_Maze_Small config; `arg="smoke"` shrinks it to seconds for tests."""
    config = ldidp_spiral.get_config()
    config.data.name = "mc_maze"
    config.data.seq_len = 140
    config.data.scale = "none"
    config.model.encoder_features = 107  # Held-in neurons.
    config.model.observation = "poisson"
    config.model.encoder = "bigru"
    config.model.decoder = "linear"
    config.model.latent_dim = 16
    # 5 ms bins, dynamics over hundreds of ms: long memory, rho = sqrt(1 - 0.05 - 0.01) = 0.97.
    config.model.signal = 0.05
    config.model.sigma = 0.1
    config.objective.input_dropout = 0.2
    config.objective.kl_warmup_steps = 500
    config.train.num_steps = 3000
    config.train.learning_rate = 5e-3
    config.train.batch_size = 16
    config.sample.num_samples = 60
    if arg == "smoke":
        ldidp_spiral.smoke(config)
        config.train.batch_size = 4
    elif arg:
        raise ValueError(f"Unknown config argument {arg!r}; expected '' or 'smoke'.")
    return config
