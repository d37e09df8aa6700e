"""Default ldx job: LD with a GRU backbone on TimeGAN Sines, a few minutes on 2 CPU cores.

    python -m launch.train --config=configs/default.py --workdir=/tmp/ldx
    python -m launch.train --config=configs/default.py:smoke --workdir=/tmp/ldx_smoke
    python -m launch.train --config=configs/default.py --config.method=psld \
        --config.model.backbone=lstm --config.data.name=energy --workdir=/tmp/ldx_energy

Method-specific config files (configs/psld.py, ...) import this one and override.
"""

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Returns the default config; `arg="smoke"` shrinks it to seconds for tests."""
    config = ml_collections.ConfigDict()
    config.seed = 0  # Seeds parameters, data split/order and every training key.
    # One of ld, ld_kl_annealing, ld_masking, ld_skip, psld (see ldx/ld/objective.py).
    config.method = "ld"

    config.data = ml_collections.ConfigDict()
    config.data.name = "sines"  # sines | stocks | energy | etth1 | fmri | earthquakes | csv | npy
    config.data.path = ""  # File for csv/npy; overrides the default location of named sets.
    # Folder of the named sets; "" = $LDX_DATA_DIR, else ../shared/data, then ~/.cache/ldx/data.
    config.data.data_dir = ""
    config.data.seq_len = 24  # Window length T.
    config.data.shuffle_time = False  # Permute time steps inside each window (paper Sec. 3).
    config.data.train_fraction = 0.8  # Share of windows (or rows) used for training.
    config.data.split = "random"  # random (TimeGAN convention) | chronological.
    config.data.num_samples = 10000  # Sines only: number of windows.
    config.data.dim = 5  # Sines only: number of features D.
    # Model a column that is an exact affine function of earlier ones (energy's rv2 = rv1,
    # stocks' Adj_Close = Close) through them, not as a feature of its own. True halves energy's
    # discriminative score; off by default since stocks (PSLD most) got rougher (docs/quality.md,
    # Cause 2b).
    config.data.drop_dependent = False

    config.model = ml_collections.ConfigDict()
    config.model.backbone = "gru"  # gru | lstm | transformer, encoder and decoder.
    config.model.latent_dim = 16  # Z; divisible by 2**(len(unet_channels) - 1).
    config.model.width = 64  # H, encoder/decoder hidden width.
    config.model.num_layers = 1  # Recurrent layers or Transformer blocks, each side.
    config.model.num_heads = 4  # Transformer attention heads.
    config.model.pooling = "last"  # Encoder summary: last | mean.
    config.model.bound = "tanh"  # PSLD code bound: tanh | l2 | none.
    # Feed z to every decoder step, not only its first (Dieng et al. 2019); ld_skip sets it,
    # any other method may (PSLD with per-step latent injection, docs/dependency_analysis.md).
    config.model.skip_z = False
    # Decoder log-variance bounds. -14 (sigma 1e-3 on the [0, 1] scale) leaves room for the
    # small one-step noise of smooth series; at -8 (sigma 0.018) most steps sat at the bound and
    # samples jittered (docs/quality.md).
    config.model.logvar_min = -14.0
    config.model.logvar_max = 2.0  # Upper bound of the decoder log-variance.
    # Rank r of the decoder's cross-feature noise coupling, Sigma_t = S (I + U U^T) S; 0 draws
    # each feature's noise independently (ldx/nn/decoders.py, GaussianHead).
    config.model.noise_rank = 0
    # U-net channels per level. (32, 64) with a 64-wide embedding puts 1-2% of the prior's draws
    # beyond the posterior's 99.9% range, (16, 32) with 32 put 5% (docs/quality.md, Cause 3).
    config.model.unet_channels = (32, 64)
    config.model.unet_emb = 64  # U-net step-embedding width.

    config.diffusion = ml_collections.ConfigDict()
    config.diffusion.num_steps = 1000  # L, steps of the DDPM prior's diffusion.
    config.diffusion.schedule = "linear"  # linear | cosine.
    config.diffusion.beta_start = 1e-4  # beta_1 of the noise schedule (linear).
    config.diffusion.beta_end = 0.02  # beta_L of the noise schedule (linear).

    config.objective = ml_collections.ConfigDict()
    config.objective.kl_weight = 1.0  # beta on KL(q(z|X) || N(0, I)) (ld*).
    config.objective.prior_weight = 1.0  # Weight of the DDPM prior loss L_DM.
    config.objective.prior_grad_to_encoder = False  # Let L_DM's gradient reach the encoder.
    config.objective.kl_schedule = "linear"  # ld_kl_annealing: linear | cyclical.
    config.objective.kl_warmup_steps = 1000  # linear: steps for beta to ramp 0 -> kl_weight.
    config.objective.kl_cycles = 4  # cyclical: cycles over train.num_steps.
    config.objective.kl_ramp_fraction = 0.5  # cyclical: share of a cycle spent ramping.
    config.objective.mask_rate = 0.3  # ld_masking: P(a decoder input x_{t-1} is zeroed).
    config.objective.num_vi_steps = 50  # psld: N, i ~ U{0..N} in L_VI; random-stop range.
    config.objective.gamma = 2.0  # psld: L_VI weight abar_{gamma i} (or abar_i^gamma).
    config.objective.vi_weight = "index"  # psld: index (abar_{gamma i}) | power (abar_i^gamma).
    config.objective.cs_window = 100  # psld: M, i ~ U{L-M..L} in L_CS.
    config.objective.cs_eta = 1.0  # psld: eta in the weight 1 - abar_{ceil(i/eta)}.
    config.objective.cs_weight = 1.0  # psld: weight of L_CS.
    # psld: floor on L_CS: marginal_step (per step) | marginal (per window) | constant | none.
    # marginal_step is the default: with the per-window floor the decoder ignored z at late
    # steps (docs/dependency_analysis.md).
    config.objective.cs_bound = "marginal_step"
    config.objective.cs_floor = 0.0  # psld, cs_bound=constant: floor in nats per element.
    # psld: share of the batch whose windows also get the noisy (L_CS) decoder pass (B + C
    # decoder rows): the same expected loss as 1.0 (every window, the paper's estimator) with a
    # noisier L_CS. 0.25 trains ~1.4x faster on CPU with the same dependency and comparable
    # sample scores on stocks and ETTh1 (docs/dependency_analysis.md, "Follow-up").
    config.objective.cs_batch_fraction = 0.25
    # psld: what L_CS's pass reads: noise (z^i, the paper's) | other_code (the clean code of
    # another window of the batch; an experiment, docs/dependency_analysis.md).
    config.objective.cs_latent = "noise"
    # Std of Gaussian noise added to the decoder's teacher-forced inputs x_<t (not its targets),
    # in normalised units; 0 is plain teacher forcing (see ldx/ld/objective.py, noisy_inputs).
    # 0.01 (about the decoder's own one-step sigma) keeps the free-running decoder from
    # amplifying its noise: sines' and energy's values outside the range halve, energy's
    # discriminative score falls 0.31/0.26 -> 0.22/0.18, stocks' moves within its intervals
    # (docs/quality.md, Cause 3, third remedy). 0.03 made series wiggle.
    config.objective.input_noise = 0.01
    # Probability that a decoder input x_{t-1} is replaced by the decoder's own draw for that
    # step from a first, gradient-free teacher-forced pass (parallel scheduled sampling,
    # ldx/ld/objective.py, self_fed_inputs); 0 is plain teacher forcing.
    config.objective.scheduled_sampling = 0.0

    config.train = ml_collections.ConfigDict()
    # Optimiser steps (both stages together). 4000 with the U-net above and input noise 0.01
    # keeps every dataset's samples within range (docs/quality.md, Cause 3, third remedy).
    config.train.num_steps = 4000
    config.train.batch_size = 128  # Global batch, divisible by the device count.
    config.train.learning_rate = 2e-3  # Peak Adam(W) learning rate.
    config.train.lr_schedule = "cosine"  # constant | cosine (both after linear warm-up).
    config.train.warmup_steps = 200  # Linear learning-rate warm-up from 0.
    config.train.grad_clip = 1.0  # Global-norm clipping; 0 disables.
    config.train.weight_decay = 0.0  # Decoupled (AdamW) weight decay; 0 is Adam.
    config.train.ema_decay = 0.999  # Decay of the parameters' EMA (used for sampling).
    config.train.stages = "joint"  # joint | two_stage (autoencoder first, then the prior).
    config.train.prior_steps = 1000  # two_stage: the last prior_steps steps train the prior.
    config.train.log_every = 100  # Steps between metrics.jsonl / TensorBoard lines.
    config.train.checkpoint_every = 1000  # Steps between checkpoints (and one at the end).
    config.train.keep_checkpoints = 3  # Newest checkpoints kept; >= 2 to survive a corrupt one.
    config.train.max_bad_steps = 20  # Stop after this many consecutive non-finite steps.
    config.train.progress_bar = True  # On a terminal, a tqdm bar: loss, steps/s, ETA.
    config.train.sample_after = True  # Write samples.npz and samples.png when training ends.
    # Log the mean global and first-order local dependency (ldx/dependency/measure.py), the global
    # one from the mean code and the swap gap (ldx/dependency/latent_use.py) of the first
    # dependency_probe_size training windows every dependency_every steps; 0 disables.
    config.train.dependency_every = 500
    config.train.dependency_probe_size = 32  # Training windows the probe measures.
    config.train.dependency_points = 16  # Gauss-Legendre points of the probe's measure.

    config.sample = ml_collections.ConfigDict()
    config.sample.num_samples = 500  # Series drawn by launch.train at the end.
    # ddim (the default: 100 steps, eta 1; published scores as ddpm's at 1/10 of the steps,
    # benchmarks/README.md) | ddpm (ancestral, all L steps).
    config.sample.sampler = "ddim"
    config.sample.ddim_steps = 100  # ddim: steps, evenly spaced over the L diffusion steps (<= L).
    # ddim: noise scale; 1 is ancestral on the sub-sequence. 0 (deterministic) sends a few % of
    # the latents far outside the posterior's range on trained priors (benchmarks/README.md).
    config.sample.ddim_eta = 1.0
    config.sample.decode_noise = True  # x_t ~ N(mu_t, sigma_t^2); False takes x_t = mu_t.
    # Tie columns that are an exact affine function of others (energy's rv2 = rv1) to them in
    # the decoder's sampling loop; untied, their independent noise drives weights the decoder
    # never trained (docs/quality.md, Cause 2b).
    config.sample.tie_dependent = True
    config.sample.use_ema = True  # Draw with the EMA parameters (else the raw ones).
    config.sample.batch_size = 1000  # Series per compiled sampling call.

    if arg == "smoke":
        config.data.num_samples = 256
        config.model.latent_dim = 8
        config.model.width = 16
        config.model.unet_channels = (8, 16)
        config.model.unet_emb = 16
        config.diffusion.num_steps = 100
        config.objective.num_vi_steps = 10
        config.objective.cs_window = 10
        config.objective.kl_warmup_steps = 4
        config.train.num_steps = 6
        config.train.batch_size = 16
        config.train.warmup_steps = 2
        config.train.prior_steps = 2
        config.train.log_every = 2
        config.train.checkpoint_every = 3
        config.train.progress_bar = False
        config.train.dependency_every = 0
        config.sample.num_samples = 8
        config.sample.batch_size = 8
    elif arg:
        raise ValueError(f"Unknown config argument {arg!r}; expected '' or 'smoke'.")
    return config
