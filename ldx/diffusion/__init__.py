"""Discrete diffusion: schedules, the epsilon loss, and DDPM / DDIM samplers."""

from ldx.diffusion.ddpm import ddim_sample, ddpm_sample, eps_loss, q_sample
from ldx.diffusion.schedules import Schedule, make_schedule

__all__ = ["Schedule", "make_schedule", "q_sample", "eps_loss", "ddpm_sample", "ddim_sample"]
