"""ldx's jitted GRU sequence-VAE train step vs the same step in PyTorch eager, side by side.

    python -m benchmarks.torch_gru_vae --out=benchmarks/results/torch_gru_vae.jsonl

Both sides train the model of configs/default.py (LD, GRU backbone) at the Energy window shape
(B=128, T=24, D=28) on the same batch, and the parameter counts are checked to be equal:

* a GRU encoder whose last state gives q(z | X) = N(mu, diag sigma^2), Z=16, H=64;
* an autoregressive GRU decoder, teacher-forced on [0, x_1 .. x_{T-1}], initial state
  Linear(z), and a Gaussian head with a bounded log-variance;
* the latent DDPM prior: the same 1-D U-net (ldx/nn/unet.py) on the stopped-gradient z,
  one random step i ~ U{1..L} per window;
* loss = NLL + KL + prior; global-norm clipping at 1, Adam, then an EMA of the parameters.

ldx's step also runs its learning-rate schedule and the non-finite-step guard; the PyTorch step
keeps a constant learning rate and has no guard, so any bias favours PyTorch. PyTorch runs eager
with its own fused nn.GRU and foreach Adam, once per torch.set_num_threads value in --threads; the
ratio is taken against the fastest (on a loaded 2-core machine 2 threads can be far slower than 1,
as OpenMP barriers wait on descheduled threads).
"""

import math

import numpy as np
import torch
from absl import app, flags
from torch import nn

from benchmarks.common import TrainStep, emit, experiment_config, median_ms, time_interleaved

_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size B.")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 24, "Window length T.")
_FEATURES = flags.DEFINE_integer("features", 28, "Features D.")
_THREADS = flags.DEFINE_list(
    "threads", ["2", "1"], "torch.set_num_threads values, each timed (the best one is the bar)."
)
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed repeats (interleaved).")
_INNER = flags.DEFINE_integer("inner", 5, "Steps per timed repeat.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")


def _groups(channels):
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def _embedding(i, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = i.float()[:, None] * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, c_in, c_out, emb):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x, emb):  # x [B, C, Z']
        h = self.conv1(nn.functional.silu(self.norm1(x))) + self.emb(emb)[:, :, None]
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class UNet1D(nn.Module):
    """A port of ldx.nn.unet.UNet1D (channels-first)."""

    def __init__(self, channels, emb):
        super().__init__()
        self.emb_dim = emb
        self.emb1, self.emb2 = nn.Linear(emb, emb), nn.Linear(emb, emb)
        self.stem = nn.Conv1d(1, channels[0], 3, padding=1)
        self.down = nn.ModuleList(
            ResBlock(channels[max(lvl - 1, 0)], c, emb) for lvl, c in enumerate(channels)
        )
        self.downsample = nn.ModuleList(
            nn.Conv1d(c, c, 3, stride=2, padding=1) for c in channels[:-1]
        )
        self.mid = ResBlock(channels[-1], channels[-1], emb)
        self.up = nn.ModuleList(
            ResBlock(2 * c, c if lvl == 0 else channels[lvl - 1], emb)
            for lvl, c in reversed(list(enumerate(channels)))
        )
        self.upsample = nn.ModuleList(nn.Conv1d(c, c, 3, padding=1) for c in channels[:-1][::-1])
        self.out_norm = nn.GroupNorm(_groups(channels[0]), channels[0])
        self.out = nn.Conv1d(channels[0], 1, 3, padding=1)

    def forward(self, z, i):
        emb = self.emb2(nn.functional.silu(self.emb1(_embedding(i, self.emb_dim))))
        h, skips = self.stem(z[:, None]), []
        for lvl, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if lvl < len(self.downsample):
                h = self.downsample[lvl](h)
        h = self.mid(h, emb)
        for lvl, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if lvl < len(self.upsample):
                h = self.upsample[lvl](torch.repeat_interleave(h, 2, dim=-1))
        return self.out(nn.functional.silu(self.out_norm(h)))[:, 0]


class GRUVAE(nn.Module):
    def __init__(self, features, latent, width, channels, emb, logvar_bounds=(-8.0, 2.0)):
        super().__init__()
        self.encoder = nn.GRU(features, width, batch_first=True)
        self.to_latent = nn.Linear(width, 2 * latent)
        self.decoder = nn.GRU(features, width, batch_first=True)
        self.init = nn.Linear(latent, width)
        self.head = nn.Linear(width, 2 * features)
        self.prior = UNet1D(channels, emb)
        self.bounds = logvar_bounds

    def loss(self, x, abars):
        _, h = self.encoder(x)
        mean, logvar = self.to_latent(h[0]).chunk(2, dim=-1)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        x_in = nn.functional.pad(x, (0, 0, 1, 0))[:, :-1]  # [0, x_1 .. x_{T-1}]
        hs, _ = self.decoder(x_in, self.init(z)[None])
        mu, raw = self.head(hs).chunk(2, dim=-1)
        lo, hi = self.bounds
        lv = lo + (hi - lo) * torch.sigmoid(raw)
        ll = -0.5 * (math.log(2 * math.pi) + lv + (x - mu) ** 2 * torch.exp(-lv))
        nll = -ll.sum(dim=(1, 2)).mean()
        kl = 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        z0 = z.detach()
        i = torch.randint(1, len(abars), (z0.shape[0],))
        noise = torch.randn_like(z0)
        abar = abars[i][:, None]
        prior = ((self.prior(abar.sqrt() * z0 + (1 - abar).sqrt() * noise, i) - noise) ** 2).mean()
        return nll + kl + prior


def torch_runner(config, batch, threads: int = 2):
    m, d, o = config.model, config.diffusion, config.train
    model = GRUVAE(_FEATURES.value, m.latent_dim, m.width, m.unet_channels, m.unet_emb)
    betas = torch.linspace(d.beta_start, d.beta_end, d.num_steps, dtype=torch.float64)
    abars = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)]).float()
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=o.learning_rate, foreach=True)
    ema = [p.detach().clone() for p in params]
    x = torch.from_numpy(np.array(batch))

    def run():
        torch.set_num_threads(threads)
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x, abars)
        loss.backward()
        nn.utils.clip_grad_norm_(params, o.grad_clip, foreach=True)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, params, 1.0 - o.ema_decay)
        return loss.item()

    return run, sum(p.numel() for p in params)


def main(argv):
    del argv
    torch.manual_seed(0)
    config = experiment_config("ld", "gru", _BATCH.value, _SEQ_LEN.value, _FEATURES.value)
    jax_step = TrainStep(config)
    runs = {"jax": jax_step.run}
    for threads in (int(t) for t in _THREADS.value):
        runs[f"torch@{threads}"], torch_params = torch_runner(config, jax_step.batch, threads)
    if torch_params != jax_step.num_params:
        raise SystemExit(
            f"parameter counts differ: torch {torch_params}, ldx {jax_step.num_params}"
        )
    times = time_interleaved(runs, _REPEATS.value, warmup=3, inner=_INNER.value)
    jax_ms = median_ms(times["jax"])
    by_threads = {name: median_ms(t) for name, t in times.items() if name != "jax"}
    torch_ms = min(by_threads.values())
    emit(
        {
            "benchmark": "torch_gru_vae",
            "batch_size": _BATCH.value,
            "seq_len": _SEQ_LEN.value,
            "features": _FEATURES.value,
            "ldx_params": jax_step.num_params,
            "torch_params": torch_params,
            "ldx_step_ms": jax_ms,
            "torch_step_ms": torch_ms,
            "ldx_steps_per_s": 1e3 / jax_ms,
            "torch_steps_per_s": 1e3 / torch_ms,
            "speedup": torch_ms / jax_ms,  # over PyTorch's fastest thread setting
            "target": 3.0,
            "torch": torch.__version__,
            "torch_step_ms_by_threads": by_threads,
            "speedup_by_threads": {k: v / jax_ms for k, v in by_threads.items()},
        },
        _OUT.value,
    )


if __name__ == "__main__":
    app.run(main)
