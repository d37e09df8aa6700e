"""The typed `config.train`: how long, how fast and how safely a run trains."""

from __future__ import annotations

import dataclasses

from ldx.errors import ConfigError, check_config

LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Typed `config.train`; every field is documented once, in configs/default.py (no defaults
    here: the config file is their one source)."""

    num_steps: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    warmup_steps: int
    grad_clip: float
    weight_decay: float
    ema_decay: float
    stages: str
    prior_steps: int
    log_every: int
    checkpoint_every: int
    keep_checkpoints: int
    max_bad_steps: int
    progress_bar: bool
    sample_after: bool
    dependency_every: int
    dependency_probe_size: int
    dependency_points: int

    def __post_init__(self):
        check_config(
            self,
            "train",
            dict(stages=("joint", "two_stage"), lr_schedule=LR_SCHEDULES),
            (
                "num_steps",
                "batch_size",
                "log_every",
                "checkpoint_every",
                "keep_checkpoints",
                "max_bad_steps",
                "dependency_probe_size",
                "dependency_points",
            ),
            (
                ("learning_rate", self.learning_rate > 0, "> 0"),
                ("ema_decay", 0 <= self.ema_decay <= 1, "in [0, 1]"),
                ("grad_clip", self.grad_clip >= 0, ">= 0 (0 disables clipping)"),
                ("weight_decay", self.weight_decay >= 0, ">= 0"),
                (
                    "warmup_steps",
                    0 <= self.warmup_steps <= self.num_steps,
                    f"in [0, num_steps={self.num_steps}]",
                ),
                ("dependency_every", self.dependency_every >= 0, ">= 0"),
            ),
        )
        if self.stages == "two_stage" and not 0 < self.prior_steps < self.num_steps:
            raise ConfigError(
                f"config.train.prior_steps={self.prior_steps} must be in "
                f"(0, num_steps={self.num_steps}) for two_stage training."
            )

    def stage(self, step: int) -> str:
        """Which terms step `step` trains: joint, or autoencoder then prior."""
        if self.stages == "joint":
            return "joint"
        return "autoencoder" if step < self.num_steps - self.prior_steps else "prior"
