"""LDIDP: the latent error per time bin, against estimators that do not use the model (issue 22).

    python -m benchmarks.ldidp_edges --workdir=W --out=benchmarks/results/ldidp/edges.jsonl

For a trained ldidp workdir on synthetic data (EMA parameters) emits JSON lines:

* `ldidp_bin_error` (`estimator: "model"`): the squared error of each bin's posterior-mean
  latent after the one affine map fitted on all bins of the training windows
  (`metrics.per_bin_mse`, test windows), with `first_ratio` = bin 1 / mean of bins 2..T (the
  issue's target, <= 2) and `last_ratio` = bin T / mean of bins 1..T-1 (the other edge);
  `per_bin_affine`: the same with a separate affine map per bin (how much of an edge's error is
  an affine distortion, e.g. a shrinkage, rather than scatter); `decoded`: the error of the
  decoded observation means E[x_k | z_k] mapped affinely to the true latents (whether the error
  is in what the decoder reads or in directions it ignores).
* the same record for estimators that do not use the model, on the same windows and split:
  `estimator: "window_ridge"`, `metrics.window_ridge` from the whole window (the encoder's input;
  `"window_ridge_sqrt"` from square-root counts for spike data), penalty chosen by 5-fold
  cross-validation over the training windows: a generic smoother, which sees both sides of
  inner bins and one side of the edges; and, for the spiral, `estimator: "bayes"`,
  `synthetic.spiral_posterior_mean`, the exact posterior mean under the generator (the least
  error any estimator can reach).
* with `--map_steps=N` (first_step="initial" models), `estimator: "map"`: the MAP path of the
  trained generative model, argmax_z log p(x, z) (`objective.log_joint`) by N Adam steps (lr
  3e-3) from the posterior mean, on the training and test windows, scored like the model's
  (its own affine map); `log_joint_q` / `log_joint_map`: the mean log joint of the test windows
  at the start and the end. Whether an edge's error is the amortised encoder's (the MAP path
  is flatter) or the generative model's posterior (it is not).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from benchmarks.common import emit
from ldx import compilation_cache
from ldx.data import split_indices, synthetic
from ldx.ldidp import metrics, objective
from ldx.ldidp.evaluation import infer
from ldx.train import load_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained ldidp workdir (synthetic data).")
_REFERENCES = flags.DEFINE_bool("references", True, "Also score the model-free estimators.")
_OUT = flags.DEFINE_string("out", None, "Also append the JSON lines to this file.")
_TAG = flags.DEFINE_string("tag", "", "Free label copied into every line.")
_MAP_STEPS = flags.DEFINE_integer(
    "map_steps", 0, "Adam steps of the MAP path (0: none).", lower_bound=0
)
flags.mark_flags_as_required(["workdir"])

RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def profile_record(err: np.ndarray) -> dict:
    """Edge ratios and the rounded per-bin profile of a [T] error vector."""
    return {
        "mse": float(err.mean()),
        "first_ratio": float(err[0] / err[1:].mean()),
        "last_ratio": float(err[-1] / err[:-1].mean()),
        "mse_per_bin": err.round(5).tolist(),
    }


def ridge_cv(x: np.ndarray, y: np.ndarray, folds: int = 5) -> float:
    """The window_ridge penalty from RIDGE_GRID with the least cross-validated squared error."""
    fold = np.arange(len(x)) % folds
    scores = [
        np.mean(
            [
                (
                    (
                        metrics.window_ridge(x[fold != k], y[fold != k], x[fold == k], l2)
                        - y[fold == k]
                    )
                    ** 2
                ).mean()
                for k in range(folds)
            ]
        )
        for l2 in RIDGE_GRID
    ]
    return RIDGE_GRID[int(np.argmin(scores))]


def map_path(model, x: np.ndarray, z: np.ndarray, steps: int) -> tuple[np.ndarray, float, float]:
    """argmax_z log p(x, z) by Adam from z; returns (z_map, mean log joint at z, at z_map)."""
    x, z = jnp.asarray(x), jnp.asarray(z)
    opt = optax.adam(3e-3)

    @jax.jit
    def update(z_k, state):
        grad = jax.grad(lambda v: -objective.log_joint(model, x, v).sum())(z_k)
        delta, state = opt.update(grad, state)
        return optax.apply_updates(z_k, delta), state

    z_map, state = z, opt.init(z)
    for _ in range(steps):
        z_map, state = update(z_map, state)
    start, end = (float(objective.log_joint(model, x, v).mean()) for v in (z, z_map))
    return np.asarray(z_map), start, end


def main(argv):
    del argv
    compilation_cache.enable()
    run = load_run(_WORKDIR.value)
    exp, model = run.experiment, run.model()
    ds, d = exp.dataset, exp.data
    truth = exp.true_latents()
    if truth is None:
        raise app.UsageError(f"{_WORKDIR.value}: {d.name} has no true latents.")
    if _MAP_STEPS.value and model.cfg.first_step != "initial":
        raise app.UsageError(f'{_WORKDIR.value}: --map_steps needs first_step="initial".')
    train, test = split_indices(len(truth), d)
    y_train, y_test = truth[train], truth[test]
    head = {"benchmark": "ldidp_bin_error", "data": d.name, "workdir": _WORKDIR.value}
    head["tag"] = _TAG.value

    z_train, mean_train = infer(model, ds.train)
    z_test, mean_test = infer(model, ds.test)
    err = metrics.per_bin_mse(z_train, y_train, z_test, y_test)
    per_bin = np.array(
        [
            metrics.per_bin_mse(
                z_train[:, k : k + 1],
                y_train[:, k : k + 1],
                z_test[:, k : k + 1],
                y_test[:, k : k + 1],
            )[0]
            for k in range(ds.seq_len)
        ]
    )
    record = {**head, "estimator": "model", **profile_record(err)}
    record["latent_corr"] = metrics.affine_alignment(z_train, y_train, z_test, y_test)["corr"]
    record["per_bin_affine"] = profile_record(per_bin)
    record["decoded"] = profile_record(metrics.per_bin_mse(mean_train, y_train, mean_test, y_test))
    emit(record, _OUT.value)
    if _MAP_STEPS.value:
        m_train = map_path(model, ds.train, z_train, _MAP_STEPS.value)[0]
        m_test, start, end = map_path(model, ds.test, z_test, _MAP_STEPS.value)
        err = metrics.per_bin_mse(m_train, y_train, m_test, y_test)
        record = {**head, "estimator": "map", "map_steps": _MAP_STEPS.value, **profile_record(err)}
        emit({**record, "log_joint_q": start, "log_joint_map": end}, _OUT.value)
    if not _REFERENCES.value:
        return

    inputs = {"window_ridge": (ds.train, ds.test)}
    if d.name.startswith("spikes"):
        inputs["window_ridge_sqrt"] = (np.sqrt(ds.train), np.sqrt(ds.test))
    for name, (x_train, x_test) in inputs.items():
        l2 = ridge_cv(x_train, y_train)
        pred = metrics.window_ridge(x_train, y_train, x_test, l2)
        err = ((pred - y_test) ** 2).mean((0, 2))
        emit({**head, "estimator": name, "l2": l2, **profile_record(err)}, _OUT.value)
    if d.name == "spiral":
        raw = synthetic.spirals(d.num_samples, d.seq_len, d.seed)[0][test]  # generator units
        err = ((synthetic.spiral_posterior_mean(raw) - y_test) ** 2).mean((0, 2))
        emit({**head, "estimator": "bayes", **profile_record(err)}, _OUT.value)


if __name__ == "__main__":
    app.run(main)
