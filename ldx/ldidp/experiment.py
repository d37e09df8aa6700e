"""An `ldidp` config as an Experiment (the interface of ldx/experiment.py).

`build_experiment(config)` validates config.{data, model, objective, sample, train} into frozen
dataclasses, loads the data and checks that it suits the observation model. It also records
what the evaluation can compare against (`reference`): the generator's true latents of a
synthetic set, or the NLB held-out neurons and behaviour of MC_Maze.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from ldx import experiment
from ldx.data import DataConfig, Dataset, build_dataset, synthetic
from ldx.errors import ConfigError
from ldx.ldidp.model import LDIDP, ModelConfig
from ldx.ldidp.objective import ObjectiveConfig, make_loss_fn
from ldx.ldidp.samplers import SamplerConfig, sample, step_model
from ldx.train.config import TrainConfig

METHOD = "ldidp"
# What a data set offers the evaluation beyond its windows: config.data.name -> reference.
REFERENCES = {
    "spiral": "latents",
    "spikes_poisson": "latents",
    "spikes_bernoulli": "latents",
    "mc_maze": "nlb",
}


@dataclasses.dataclass(frozen=True)
class LDIDPExperiment:
    """A validated `ldidp` config: data, model, objective and sampler settings."""

    method: str
    seed: int
    data: DataConfig
    dataset: Dataset
    model: ModelConfig
    objective: ObjectiveConfig
    sampler: SamplerConfig
    train: TrainConfig
    draw: experiment.DrawConfig
    spec: dict
    reference: str  # "latents" (true_latents()), "nlb" (MC_Maze's held-out data) or "none"

    def init_model(self) -> LDIDP:
        """A fresh model whose decoder bias is the inverse link of the training mean.

        log(mean count) for Poisson, logit(mean) for Bernoulli, the mean for Gaussian, per
        feature: training then starts from the per-feature constant model instead of spending
        its first hundreds of steps finding the overall rates.
        """
        model = LDIDP(self.model, rngs=nnx.Rngs(self.seed))
        model.dec_out.bias[...] = jnp.asarray(
            initial_bias(self.model.observation, self.dataset.train)
        )
        return model

    def loss_fn(self, num_steps: int):
        return make_loss_fn(self.objective, num_steps)

    def generate(self, model: LDIDP, key, num: int):
        """num series [num, T, D] from the configured sampler (implicit by default)."""
        return sample(model, self.sampler, key, num, self.dataset.seq_len)[1]

    def step_model(self, model: LDIDP):
        """The generative model bin by bin (eta = 1), for completion (`ldx.complete`)."""
        return step_model(model, self.sampler.decode_noise)

    def describe(self) -> dict:
        return {"method": self.method, "dataset": self.data.name, "seed": self.seed}

    def true_latents(self):
        """The generator's latents of every window (before the split), or None. # [N, T, G]"""
        if self.reference != "latents":
            return None
        d = self.data
        if d.name == "spiral":
            return synthetic.spirals(d.num_samples, d.seq_len, d.seed)[1]
        spike_model = d.name.removeprefix("spikes_")
        return synthetic.lorenz_spikes(
            d.num_samples, d.seq_len, d.dim, d.seed, spike_model=spike_model
        )[1]


def initial_bias(observation: str, train: np.ndarray) -> np.ndarray:
    """Inverse link of each feature's training mean. # [N, T, D] -> [D]"""
    mean = train.reshape(-1, train.shape[-1]).mean(0).astype(np.float64)  # [D]
    if observation == "poisson":
        return np.log(np.maximum(mean, 1e-3)).astype(np.float32)
    if observation == "bernoulli":
        p = np.clip(mean, 1e-3, 1 - 1e-3)
        return np.log(p / (1 - p)).astype(np.float32)
    return mean.astype(np.float32)


def _check_data(observation: str, train: np.ndarray, scale: str) -> None:
    """Count likelihoods need counts: non-negative integers (Poisson) or 0/1 (Bernoulli)."""
    if observation == "gaussian":
        return
    bad = np.any(train < 0) or np.any(train != np.round(train))
    if observation == "bernoulli":
        bad = bad or np.any(train > 1)
    if bad:
        expected = "0/1 values" if observation == "bernoulli" else "non-negative integer counts"
        raise ConfigError(
            f"config.model.observation={observation!r} needs {expected}, but the training data "
            f"(config.data.scale={scale!r}) has values in [{train.min():g}, {train.max():g}]"
            + ("; set config.data.scale='none' for spike counts." if scale != "none" else ".")
        )


def build_experiment(config: ml_collections.ConfigDict) -> LDIDPExperiment:
    """Validates an `ldidp` config and loads its data. Raises LdxError subclasses."""
    if config.train.stages != "joint":
        raise ConfigError(
            f"config.train.stages={config.train.stages!r}: ldidp trains jointly; use 'joint'."
        )
    typed = experiment.typed
    data = typed(DataConfig, config.data, "data", seed=config.seed)
    dataset = build_dataset(data)
    model = typed(ModelConfig, config.model, "model", features=dataset.dim)
    _check_data(model.observation, dataset.train, data.scale)
    objective = typed(ObjectiveConfig, config.objective, "objective")
    sample_cfg = {k: v for k, v in config.sample.items() if k not in ("num_samples", "use_ema")}
    sampler = typed(SamplerConfig, ml_collections.ConfigDict(sample_cfg), "sample")
    # The dependency probe measures LD decoders; LDIDP has none to measure.
    train = typed(
        TrainConfig,
        config.train,
        "train",
        dependency_every=0,
        dependency_probe_size=1,
        dependency_points=1,
    )
    return LDIDPExperiment(
        METHOD,
        config.seed,
        data,
        dataset,
        model,
        objective,
        sampler,
        train,
        experiment.draw_config(config),
        experiment.spec(config),
        REFERENCES.get(data.name, "none"),
    )


experiment.register([METHOD], build_experiment)
