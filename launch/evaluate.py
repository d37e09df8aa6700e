"""Scores a trained run: writes <workdir>/eval/metrics.json, report.md and figures.

    python -m launch.evaluate --workdir=/tmp/ldx
    python -m launch.evaluate --workdir=/tmp/ldx --num_windows=500 --repeats=3 --overwrite
    python -m launch.evaluate --workdir=/tmp/ldx --protocol=diffusion_ts
    python -m launch.evaluate --workdir=/tmp/ldx --config.sample.sampler=ddim --seed=0

`--protocol=heldout` (the default, below) is ldx's own protocol; `--protocol=diffusion_ts` is the
published one of Diffusion-TS's tables (ldx/eval/published.py: every window as the reference, the
scaler of the whole series, Sines unscaled, as many generated windows, 2000/5000 scorer steps x
5 repeats, 95% intervals, subset correlational score, the "Original" predictive floor) and
writes <workdir>/eval_diffusion_ts/ instead; there `--num_windows` caps the reference set only
when given (0 = every window).

Metrics (ldx.metrics) on the [0, 1] per-feature scale of the training split, for N generated
windows and, as the floor, N real training windows, each against N held-out test windows.
The scored windows are kept in eval/samples.npz (`samples` in data units, `samples_normalized`).
An existing <workdir>/eval is kept unless --overwrite; the new folder replaces it only once
it is complete. `--config.sample.<field>=` changes how the scored series are drawn (as in
launch.sample); without --seed a fresh seed is drawn. Both are recorded in settings.json.

Runs trained with an ldidp config (method `ldidp`) get the LDIDP evaluation instead
(ldx/ldidp/evaluation.py, docs/ldidp.md): latent recovery after the best affine map on
synthetic data; co-smoothing bits per spike, the smoothing + GLM baseline and velocity R^2 on
MC_Maze_Small; test ELBO; MMD and rates of --num_windows generated windows; figures
latents.png (synthetic) and raster.png (spike data). The learned-metric flags do not apply.

    python -m launch.evaluate --workdir=/tmp/ldidp_spiral --num_windows=500
"""

import os
import shutil

import numpy as np
from absl import app, flags

from launch import common
from ldx.errors import LdxError
from ldx.eval import published
from ldx.eval.report import run_markdown, write_figures, write_json
from ldx.eval.scores import EvalConfig, evaluate_run
from ldx.experiment import build_experiment
from ldx.ldidp import evaluation as ldidp_evaluation
from ldx.train import load_run, lock

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a trained run.")
_PROTOCOL = flags.DEFINE_enum(
    "protocol", "heldout", list(published.PROTOCOLS), "heldout (ldx's) or diffusion_ts (published)."
)
_NUM = flags.DEFINE_integer(
    "num_windows",
    None,
    "Windows per set (heldout: default 1000, capped by the test split; "
    "diffusion_ts: default 0 = every window).",
)
_REPEATS = flags.DEFINE_integer("repeats", 5, "Repeats of the learned metrics.")
_DISC = flags.DEFINE_integer("disc_iterations", 2000, "Discriminative GRU Adam steps.")
_PRED = flags.DEFINE_integer("pred_iterations", 5000, "Predictive GRU Adam steps.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch of the learned metrics.")
_FID_ITERS = flags.DEFINE_integer(
    "fid_iterations", 0, "diffusion_ts: TS2Vec steps of Context-FID (0 = TS2Vec's rule).", 0
)
_SEED = flags.DEFINE_integer(
    "seed", None, "Seeds the subsets, samples and learned metrics (default: fresh, recorded)."
)
_FIGURES = flags.DEFINE_bool(
    "figures", True, "Draw samples.png, pca.png and tsne.png (ldidp: latents.png, raster.png)."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing <workdir>/eval.")
_MMD_BIN = flags.DEFINE_integer(
    "mmd_bin", None, "ldidp: bins summed before the MMD (default 10 for mc_maze, else 1).", 1
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    heldout = _PROTOCOL.value == "heldout"
    out = os.path.join(_WORKDIR.value, "eval" if heldout else f"eval_{_PROTOCOL.value}")
    if os.path.exists(out) and not _OVERWRITE.value:
        raise LdxError(f"{out} exists; pass --overwrite to replace it.")
    seed = common.sampling_seed(_SEED)
    if not heldout:
        return _published(out, seed)
    cfg = EvalConfig(  # validates the flags before any work
        num_windows=1000 if _NUM.value is None else _NUM.value,
        repeats=_REPEATS.value,
        disc_iterations=_DISC.value,
        pred_iterations=_PRED.value,
        batch_size=_BATCH.value,
        seed=seed,
    )
    with lock.hold(_WORKDIR.value, "launch.evaluate"):  # before reading a run in training
        config, overrides = common.run_config(_WORKDIR.value)
        _heldout(load_run(_WORKDIR.value, build_experiment(config)), cfg, out, (config, overrides))


def _heldout(run, cfg: EvalConfig, out: str, used: tuple) -> None:
    tmp = _fresh(out, run, cfg.seed, used)
    if run.experiment.method == "ldidp":
        results, fake = ldidp_evaluation.evaluate_run(
            run,
            num_samples=cfg.num_windows,
            seed=cfg.seed,
            mmd_bin=_MMD_BIN.value,
            figures_dir=tmp if _FIGURES.value else None,
        )
        figures = [f for f in ("latents.png", "raster.png") if os.path.exists(f"{tmp}/{f}")]
        report = ldidp_evaluation.markdown(results, figures)
    else:
        common.say(
            "evaluate",
            f"heldout protocol: drawing and scoring up to {cfg.num_windows} windows "
            f"({cfg.repeats} repeats of {cfg.disc_iterations}/{cfg.pred_iterations} "
            "scorer steps) ...",
        )
        results, fake = evaluate_run(run, cfg)
        figures = []
        if _FIGURES.value:
            test = run.experiment.dataset.scaler.expand(run.experiment.dataset.test)
            figures = write_figures(test, fake, tmp, seed=cfg.seed)
        report = run_markdown(results, figures)
    scaler = run.experiment.dataset.scaler
    np.savez(
        os.path.join(tmp, "samples.npz"),
        samples=scaler.inverse_transform(fake),
        samples_normalized=scaler.expand(fake),  # every column, whichever the model draws
    )
    _finish(out, tmp, results, report)


def _fresh(out: str, run, seed: int, used: tuple) -> str:
    """out + ".tmp", emptied, with settings.json: the seed and (config, overrides) `used`."""
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a leftover of an interrupted call
    os.makedirs(tmp)
    common.write_settings(os.path.join(tmp, "settings.json"), run, seed, *used)
    return tmp


def _published(out: str, seed: int) -> None:
    cfg = published.PublishedConfig(
        num_windows=_NUM.value or 0,
        repeats=_REPEATS.value,
        disc_iterations=_DISC.value,
        pred_iterations=_PRED.value,
        fid_iterations=_FID_ITERS.value,
        seed=seed,
    )
    with lock.hold(_WORKDIR.value, "launch.evaluate"):  # before reading a run in training
        config, overrides = common.run_config(_WORKDIR.value)
        run = load_run(_WORKDIR.value, build_experiment(config))
        if run.experiment.method == "ldidp":
            raise LdxError("--protocol=diffusion_ts scores LD/PSLD runs; this run is ldidp.")
        _write_published(run, cfg, out, (config, overrides))


def _write_published(run, cfg: published.PublishedConfig, out: str, used: tuple) -> None:
    tmp = _fresh(out, run, cfg.seed, used)
    results, fake = published.evaluate_run(run, cfg)
    scaler = run.experiment.dataset.scaler
    np.savez(
        os.path.join(tmp, "samples.npz"),
        samples=scaler.inverse_transform(fake),
        samples_normalized=fake,
    )
    _finish(out, tmp, results, published.markdown(results))


def _finish(out: str, tmp: str, results: dict, report: str) -> None:
    """Writes metrics.json and report.md into tmp, then swaps tmp in for out."""
    write_json(os.path.join(tmp, "metrics.json"), results)
    with open(os.path.join(tmp, "report.md"), "w") as f:
        f.write(report)
    old = out + ".old"
    if os.path.exists(out):  # --overwrite: swap in the complete new folder, then drop the old
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    common.say("evaluate", f"wrote {out}/metrics.json, report.md, samples.npz, settings.json")


if __name__ == "__main__":
    common.run(main, reads_run=True)
