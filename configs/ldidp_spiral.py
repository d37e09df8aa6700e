"""LDIDP on noisy 2-D spirals (latent-ODE style): recover the spiral from its noisy points.

    python -m launch.train --config=configs/ldidp_spiral.py --workdir=/tmp/ldidp_spiral
    python -m launch.train --config=configs/ldidp_spiral.py:smoke --workdir=/tmp/ldidp_smoke
    python -m launch.evaluate --workdir=/tmp/ldidp_spiral

The base of every ldidp config (configs/ldidp_spikes.py and configs/ldidp_mc_maze.py import it
and override); the maths is in docs/ldidp.md.
"""

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Returns the spiral config; `arg="smoke"` shrinks it to seconds for tests."""
    config = ml_collections.ConfigDict()
    config.seed = 0  # Seeds parameters, data, split and every training key.
    config.method = "ldidp"

    config.data = ml_collections.ConfigDict()
    # spiral | spikes_poisson | spikes_bernoulli | mc_maze, or any ldx source (configs/default.py).
    config.data.name = "spiral"
    config.data.path = ""  # File for csv/npy; overrides the default location of named sets.
    # Folder of the named sets; "" = $LDX_DATA_DIR, else ../shared/data, then ~/.cache/ldx/data.
    config.data.data_dir = ""
    config.data.seq_len = 50  # T, bins per window.
    config.data.shuffle_time = False
    config.data.train_fraction = 0.8  # Share of windows (trials) used for training.
    config.data.split = "random"
    config.data.num_samples = 1000  # Generated sets: number of windows.
    config.data.dim = 2  # Synthetic spikes: number of neurons (the spiral is always 2-D).
    config.data.scale = "minmax"  # minmax ([0, 1]) | none (spike counts).
    config.data.drop_dependent = False  # minmax: model columns that others give exactly once.

    config.model = ml_collections.ConfigDict()
    config.model.encoder_features = 0  # Din: leading features the encoder sees; 0 = all.
    config.model.latent_dim = 4  # Z.
    config.model.width = 64  # H: dynamics GRU and encoder width.
    config.model.encoder = "bigru"  # bigru (f_phi over the window) | pointwise (c_k = MLP(x_k)).
    config.model.inference = "non_markovian"  # non_markovian q(z_k|z_{k-1},x) | markovian q(z_k|x).
    config.model.observation = "gaussian"  # gaussian (fixed obs_std) | bernoulli | poisson.
    config.model.decoder = "linear"  # f_theta: linear (latents ~ affine in x) | mlp.
    config.model.obs_std = 0.03  # Gaussian observation std ([0, 1] units; the noise is ~0.02).
    config.model.signal = 0.5  # abar: weight sqrt(abar) of the embedding in the transition mean.
    # Transition standard deviation; sigma^2 <= 1 - signal. 0.15 (was 0.3) with 3000 steps
    # (was 1500): latent MSE 0.0102 -> 0.0061, first-bin ratio 3.4x -> 2.5x (issue 22).
    config.model.sigma = 0.15
    config.model.init_std = 0.0  # Std of q(z_0 | x); 0 = learned per dimension (VAE-style).
    # p(z_0): mixture (learned, follows the aggregate posterior of z_0) | standard (N(0, I)).
    config.model.init_prior = "mixture"
    config.model.init_components = 16  # Mixture components of p(z_0).
    # initial: z_1 is the initial latent (z_1 = z_0 ~ q(z_0 | x)) | transition: z_1 ~ m(z_0, c_1).
    config.model.first_step = "initial"
    # What q(z_0 | x) reads: backward (linear head on the backward GRU at k = 1) | both (a tanh
    # layer on both GRUs' final states; bigru only).
    config.model.init_encoder = "backward"

    config.objective = ml_collections.ConfigDict()
    config.objective.kl_weight = 1.0  # beta; 1 is the ELBO.
    config.objective.kl_warmup_steps = 200  # beta ramps 0 -> kl_weight over these steps.
    config.objective.input_dropout = 0.0  # P(an encoder input entry is zeroed) in training.
    config.objective.init_kl_weight = 1.0  # w_0: weight of KL_0 in the loss (1 = the ELBO).

    config.train = ml_collections.ConfigDict()
    config.train.num_steps = 3000
    config.train.batch_size = 64
    config.train.learning_rate = 3e-3
    config.train.lr_schedule = "cosine"  # constant | cosine (after linear warm-up).
    config.train.warmup_steps = 100
    config.train.grad_clip = 1.0
    config.train.weight_decay = 0.0
    config.train.ema_decay = 0.99
    config.train.stages = "joint"  # ldidp trains jointly.
    config.train.prior_steps = 1  # Unused by ldidp (two_stage only).
    config.train.log_every = 100
    config.train.checkpoint_every = 500
    config.train.keep_checkpoints = 2
    config.train.max_bad_steps = 20
    config.train.progress_bar = True
    config.train.sample_after = True  # Write samples.npz and samples.png when training ends.

    config.sample = ml_collections.ConfigDict()
    config.sample.num_samples = 200  # Series drawn by launch.train at the end.
    config.sample.sampler = "implicit"  # implicit (DDIM-like) | explicit (Langevin, M steps).
    config.sample.eta = 0.0  # Implicit stochasticity in [0, 1]; 0 = deterministic given z_0.
    config.sample.langevin_steps = 100  # M, explicit sampler steps per time bin.
    config.sample.langevin_step_size = 0.1  # delta / sigma^2 of the explicit sampler.
    config.sample.decode_noise = True  # x_k ~ p(x_k | z_k); False returns E[x_k | z_k].
    config.sample.use_ema = True
    config.sample.batch_size = 500  # Series per compiled sampling call.

    if arg == "smoke":
        smoke(config)
    elif arg:
        raise ValueError(f"Unknown config argument {arg!r}; expected '' or 'smoke'.")
    return config


def smoke(config: ml_collections.ConfigDict) -> None:
    """Shrinks any ldidp config in place to a seconds-long run (the tests' launch smoke runs)."""
    config.data.num_samples = min(config.data.num_samples, 40)
    config.model.latent_dim = 2
    config.model.width = 8
    config.train.num_steps = 4
    config.train.batch_size = 8
    config.train.warmup_steps = 1
    config.train.log_every = 2
    config.train.checkpoint_every = 2
    config.train.progress_bar = False
    config.objective.kl_warmup_steps = 2
    config.sample.num_samples = 6
    config.sample.batch_size = 6
