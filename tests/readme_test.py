"""Every command README.md shows is run, as written but smoke-sized (issue 17).

The commands are read from README.md's code blocks: the indented ones (a `\\` continues a line;
`#` lines and trailing `# ...` comments are dropped) and the ```python ones. Each must be a key
of RUN, which says how it is shrunk, or of SKIP, which says why it is not run: a command added
to the README, changed or removed fails `test_every_readme_command_is_run_or_skipped`, and one
that stops working fails `test_readme_commands_run`.

How a command is shrunk (`_shrink`, the one mapping): `--config=configs/X.py` takes the file's
`:smoke` variant; the placeholders `W` (a workdir), `DIR`, `/tmp/...` and `workdirs/...`
become folders under the test's temporary folder, and so does `--out=benchmarks/results/...`;
`LDX_DATA_DIR=...` points at the test data; `nice` (with its `-n N`) is dropped; RUN's value
appends the flags that make the work seconds long. The Python snippets run with `/tmp/run`
replaced and the names they leave undefined given.

The apps run in a process forked, per command, from one that imported JAX, Orbax, SciPy and
matplotlib once (`_serve`): `runpy.run_module` as `python -m` does, without paying ~6 s of CPU
for the imports of each of ~25 commands.
"""

import json
import os
import re
import runpy
import shlex
import subprocess
import sys

import numpy as np
import pytest

from ldx.data.sources import data_dir_default
from ldx.eval.scores import METRICS
from tests.conftest import CACHE_DIR, ROOT

_TINY_EVAL = "--num_windows=16 --repeats=1 --disc_iterations=5 --pred_iterations=5"
_TINY_LDIDP = "--num=8 --seeds=1"

# README command -> (the workdir `W` stands for, flags appended), in README order. Workdirs:
# "ld" is the one the README's main command trains, "ldidp" the one its spiral command trains,
# "ldidp_<x>" its other LDIDP runs, "new" a fresh folder. "/tmp/smoke" is "ld" again (its
# rerun: "already finished").
RUN = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && python -m "
    "launch.train --config=configs/default.py --workdir=workdirs/default": ("ld", ""),
    "python -m launch.train --config=configs/default.py --workdir=W --config.method=psld "
    "--config.model.backbone=lstm --config.data.name=energy": ("new", ""),
    "python -m launch.train --config=configs/psld.py --workdir=W": ("new", ""),
    "python -m launch.sample --workdir=W --num_samples=500 --output=W/more.npz": ("ld", ""),
    "python -m launch.sample --workdir=W --config.sample.sampler=ddpm": ("ld", ""),
    "python -m launch.train --help_config --config=configs/psld.py": ("new", ""),
    "python -m launch.train --config=configs/default.py:smoke --workdir=/tmp/smoke": ("ld", ""),
    "import jax, ldx": ("ld", ""),  # ```python snippets, by their first line
    "python -m launch.data": ("new", ""),
    "python -m launch.data --name=energy": ("new", ""),
    "python -m launch.evaluate --workdir=W": ("ld", _TINY_EVAL),
    "python -m launch.evaluate --workdir=W --protocol=diffusion_ts": (
        "ld",
        f"{_TINY_EVAL} --fid_iterations=2",
    ),
    "python -m launch.reproduce --grid=smoke --output=/tmp/grid": ("new", ""),
    "python -m launch.train --config=configs/ldidp_spiral.py --workdir=W": ("ldidp", ""),
    "python -m launch.train --config=configs/ldidp_spikes.py --workdir=W": ("ldidp_spikes", ""),
    "LDX_DATA_DIR=../shared/data python -m launch.train --config=configs/ldidp_mc_maze.py "
    "--workdir=W": ("ldidp_mc_maze", ""),
    "python -m launch.sample --workdir=W --num_samples=500 --output=W/s.npz": ("ldidp", ""),
    "python -m launch.evaluate --workdir=W --num_windows=500": ("ldidp", ""),
    "python -m benchmarks.ldidp_sampling --workdir=W": (
        "ldidp",
        "--num=8 --repeats=1 --warmup=0 --langevin_steps=2 --mmd_seeds=1",
    ),
    "python -m benchmarks.ldidp_coverage --workdir=W": ("ldidp", _TINY_LDIDP),
    "python -m benchmarks.ldidp_edges --workdir=W --references": ("ldidp", ""),
    "python -m benchmarks.ldidp_sampler_gap --workdir=W": (
        "ldidp",
        f"{_TINY_LDIDP} --langevin_steps=2",
    ),
    "from ldx.batching import batch_map": ("new", ""),
    "from ldx.dependency import decoder_fn, dependency_measures, global_dependency, "
    "local_dependency": ("ld", ""),
    "python -m launch.dependency --workdir=W --num_samples=500 [--source=data] [--output=DIR]": (
        "ld",
        "",
    ),
    "python -m benchmarks.completion --table=benchmarks/results/completion": ("new", ""),
    "LDX_DATA_DIR=../shared/data nice python -m benchmarks.completion --workdir=W "
    "--horizons=10,25 --out=benchmarks/results/completion/ldidp/D.jsonl": (
        "ldidp",
        "--num_windows=2 --num_completions=2 --num_particles=4 --horizons=10 --rates=0.5",
    ),
    "python -m benchmarks.completion --table=benchmarks/results/completion/ldidp": ("new", ""),
    "python -m benchmarks.generation_speed --methods=ld,psld --backbones=gru --repeats=3": (
        "new",
        "--num=4 --samplers=ddim:2:1",
    ),
}
# What the snippets leave undefined ("W": the workdir), and what stands for `/tmp/run`.
_PRELUDES = {
    "from ldx.batching import batch_map": (
        "import jax, numpy as np\nparams = 2.0\nper_example_fn = lambda p, x: p * x\n"
        "windows = np.ones((10, 24, 5), np.float32)\n"
    ),
    "from ldx.dependency import decoder_fn, dependency_measures, global_dependency, "
    "local_dependency": "import ldx\nrun = ldx.load_run(W)\n",
}
SKIP = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m "
    "pytest -q -n 2": "the test suite itself: .ci/run runs exactly this",
    "LDX_DATA_DIR=../shared/data nice -n 10 python -m launch.reproduce --grid=cpu "
    "--output=/tmp/cpu_grid": "100 cells, hours of CPU; --grid=smoke runs the same code",
    "python -m launch.reproduce --grid=paper --output=DIR": "for an accelerator: days of CPU",
    "python -m launch.train --config=configs/best.py:etth1 --workdir=W": "ETTh1 at width 128 for "
    "8000 steps, half an hour of CPU; configs_test checks what configs/best.py builds, and the "
    "README's other launch.train commands run the same code",
    "LDX_DATA_DIR=../shared/data nice -n 10 python -m launch.reproduce --grid=bench "
    "--output=/tmp/bench": "50 cells, two to three hours of CPU; --grid=smoke runs the same code",
    "LDX_DATA_DIR=../shared/data nice -n 10 python -m launch.reproduce --grid=earthquakes "
    "--output=/tmp/eq": "20 cells, ~45 min of CPU; --grid=smoke runs the same code",
    "python -m launch.complete --workdir=W --input=F.npz --output=O.npz [--num_completions=8] "
    "[--num_particles=256] [--seed=S]": (
        "needs an input file: launch_test::test_complete_app_keeps_observed_values_and_refuses_"
        "another_width runs it on a smoke run"
    ),
    "LDX_DATA_DIR=../shared/data nice python -m launch.train --config=configs/default.py "
    "--workdir=W --config.data.name=D --config.train.num_steps=2000 "
    "--config.train.dependency_every=0": "2000 steps on a real dataset, minutes of CPU; the "
    "README's other launch.train commands run the same code",
    "LDX_DATA_DIR=../shared/data nice python -m benchmarks.completion --workdir=W "
    "--out=benchmarks/results/completion/D.jsonl": "minutes of CPU on a trained real-data run; "
    "completion_test checks its metrics and launch_test the completion app",
    "LDX_DATA_DIR=../shared/data nice python -m benchmarks.completion --workdir=W "
    "--out=benchmarks/results/completion/energy_noise_rank8/energy.jsonl": "the line above on "
    "another run: minutes of CPU on a trained real-data run",
    "python -m launch.train --config=configs/default.py --workdir=/shared/runs/ld "
    "--coordinator_address=host0:1234 --num_processes=N --process_id=$RANK": (
        "N hosts; tests/parallel_test.py runs these flags with two local processes"
    ),
    "srun --nodes=4 --ntasks-per-node=1 --gpus-per-task=8 python -m launch.train "
    "--config=configs/default.py --workdir=/shared/run --distributed": "a SLURM cluster of GPUs",
    'gcloud compute tpus tpu-vm ssh NAME --worker=all --command="cd ldx && python -m '
    'launch.train --config=configs/default.py --workdir=/shared/run --distributed"': (
        "a Cloud TPU VM and the network"
    ),
}


# Lines each phase must announce on stderr as it starts (`ldx.progress`), by command.
PHASES = {
    "python -m launch.evaluate --workdir=W": [
        "evaluate: drawing 16 series ...",
        *(
            f"evaluate: {s}: metric {i}/{len(METRICS)} "
            for s in ("floor", "model")
            for i in range(1, len(METRICS) + 1)
        ),
        "evaluate: figures: ",
    ],
    "python -m launch.evaluate --workdir=W --protocol=diffusion_ts": [
        f"evaluate: model: metric {i}/4 " for i in range(1, 5)
    ]
    + ["evaluate: original: predictive"],
    "python -m launch.sample --workdir=W --num_samples=500 --output=W/more.npz": [
        "sample: drawing 4 series ..."
    ],
    "python -m launch.reproduce --grid=smoke --output=/tmp/grid": [
        "reproduce: cell 1/2 ",
        "reproduce: training ",
        "reproduce: cell 2/2 ",
    ],
    "python -m launch.data --name=energy": ["data: downloading file://"],
    "python -m launch.evaluate --workdir=W --num_windows=500": [
        "evaluate: posterior latents of ",
        "evaluate: drawing 8 windows",
    ],
    "python -m launch.dependency --workdir=W --num_samples=500 [--source=data] [--output=DIR]": [
        "dependency: dependency measure of 12 series"  # 4 series x 3 baselines
    ],
}


def readme_commands(text: str) -> list[tuple[str, str]]:
    """(command, text to run) of README.md's code blocks, in order; a ```python snippet is
    keyed by its first line."""
    commands, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("```python"):
            j = lines.index("```", i + 1)
            commands.append((lines[i + 1].strip(), "\n".join(lines[i + 1 : j])))
            i = j + 1
            continue
        if lines[i].startswith("    ") and i > 0 and not lines[i - 1].strip():
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i].strip())
                i += 1
            if re.match(r"\S+/\s", block[0]):  # the code layout tree, not commands
                continue
            joined = "\n".join(block).replace("\\\n", " ")
            for line in joined.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if line and not line.startswith("#"):
                    commands.append((" ".join(line.split()),) * 2)
            continue
        i += 1
    return commands


def _readme() -> list[tuple[str, str]]:
    with open(os.path.join(ROOT, "README.md")) as f:
        return readme_commands(f.read())


def test_every_readme_command_is_run_or_skipped():
    commands = [c for c, _ in _readme()]
    assert not set(RUN) & set(SKIP)
    unlisted = [c for c in commands if c not in RUN and c not in SKIP]
    gone = [c for c in [*RUN, *SKIP] if c not in commands]
    assert not unlisted, f"README commands neither run nor skipped here: {unlisted}"
    assert not gone, f"listed here, no longer in the README: {gone}"
    assert set(PHASES) <= set(RUN)


_DATA = os.path.join(ROOT, data_dir_default())
_SIZES = {"--num_samples=500": "--num_samples=4", "--num_windows=500": "--num_windows=8"}


def _jobs(command: str, body: str, workdir: str, tmp: str) -> list[dict]:
    """How `command` runs, smoke-sized (the module docstring): one job, or two for a command
    with optional `[...]` flags (without them, then with them)."""
    where, extra = RUN[command]
    if body != command or command in _PRELUDES:  # a ```python snippet
        code = _PRELUDES.get(command, "") + body.replace('"/tmp/run"', "W")
        return [{"code": f"W = {workdir!r}\n{code}", "env": {}}]
    words = shlex.split(command.split("&& ")[-1])
    env = {"LDX_DATA_DIR": _DATA}
    while re.match(r"^[A-Z_]+=", words[0]):
        env[words.pop(0).split("=")[0]] = _DATA  # LDX_DATA_DIR=../shared/data
    if words[0] == "nice":
        del words[: 3 if words[1] == "-n" else 1]
    assert words[:2] == ["python", "-m"], command
    if words[2:] == ["launch.data", "--name=energy"]:  # from the test data, into tmp
        env = {"LDX_DATA_DIR": f"{tmp}/data", "LDX_DATA_MIRROR": f"file://{_DATA}"}
    args = []
    for arg in words[3:] + extra.split():
        arg = _SIZES.get(arg, arg)
        arg = re.sub(r"^(--config=configs/\w+\.py)$", r"\1:smoke", arg)
        arg = re.sub(r"^--workdir=.*$", f"--workdir={workdir}", arg)
        arg = re.sub(r"^(\[?--output=)(DIR|/tmp/)", rf"\g<1>{tmp}/out_", arg)
        arg = re.sub(r"^(\[?--output=)W/", rf"\g<1>{workdir}/", arg)
        arg = re.sub(r"^--out=benchmarks/results/.*$", f"--out={tmp}/out.jsonl", arg)
        args.append(arg)
    plain = [a for a in args if not a.startswith("[")]
    jobs = [{"module": words[2], "args": plain, "env": env}]
    if len(plain) < len(args):
        jobs.append({"module": words[2], "args": [a.strip("[]") for a in args], "env": env})
    return jobs


def _serve() -> None:
    """Runs the jobs of stdin's JSON lines, each in a forked process, and answers each with
    its exit status. JAX is imported here but starts no backend, so forking is safe."""
    import launch.common  # noqa: F401  JAX, Orbax, SciPy, matplotlib: imported once

    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        print(json.dumps(status), flush=True)


def _child(job: dict) -> None:
    code = 1
    try:
        os.environ.update(job["env"])
        for fd, path in ((0, os.devnull), (1, job["out"]), (2, job["err"])):
            os.dup2(os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC), fd)
        if "code" in job:
            exec(compile(job["code"], "README.md", "exec"), {"__name__": "__main__"})
        else:  # as `python -m module args`
            sys.argv = ["", *job["args"]]
            runpy.run_module(job["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict:
    """{README command: [(exit status, stdout, stderr) of each of its jobs]}, every command
    of RUN run in README order by one `_serve` process, and "workdirs": their parent folder."""
    tmp = str(tmp_path_factory.mktemp("readme"))
    env = dict(os.environ, LDX_COMPILATION_CACHE=CACHE_DIR or "", JAX_PLATFORMS="cpu")
    server = subprocess.Popen(
        [sys.executable, "-c", "from tests.readme_test import _serve; _serve()"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, n = {"workdirs": tmp}, 0
    # Beyond the README: launch.evaluate on its other two LDIDP runs (`LDIDP`'s checks).
    extra = [
        (
            f"evaluate {name}",
            {
                "module": "launch.evaluate",
                "args": [f"--workdir={tmp}/{name}", "--num_windows=8"],
                "env": {"LDX_DATA_DIR": _DATA},
            },
        )
        for name in ("ldidp_spikes", "ldidp_mc_maze")
    ]
    try:
        for command, body in [*_readme(), *extra]:
            if command not in RUN and isinstance(body, str):
                continue
            n += 1
            where = RUN.get(command, ("",))[0]
            workdir = f"{tmp}/{where}" if where != "new" else f"{tmp}/new{n}"
            jobs = [body] if isinstance(body, dict) else _jobs(command, body, workdir, tmp)
            for job in jobs:
                job.update(out=f"{tmp}/{n}.out", err=f"{tmp}/{n}.err")
                server.stdin.write(json.dumps(job) + "\n")
                server.stdin.flush()
                status = json.loads(server.stdout.readline())
                with open(job["out"]) as o, open(job["err"]) as e:
                    out.setdefault(command, []).append((status, o.read(), e.read()))
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    return out


def test_readme_commands_run(ran):
    failed = {
        c: err[-1500:]
        for c, jobs in ran.items()
        if c != "workdirs"
        for status, _, err in jobs
        if status != 0
    }
    assert not failed, json.dumps(failed, indent=1)
    assert set(RUN) <= set(ran)


LDIDP = {  # workdir -> (T, D) of its smoke data, the numbers launch.evaluate must write
    "ldidp": ((50, 2), ("latent_corr", "latent_mse", "latent_corr_within", "latent_first_ratio")),
    "ldidp_spikes": ((50, 40), ("latent_corr", "rate_corr", "rate_mae")),
    "ldidp_mc_maze": ((140, 142), ("co_bps", "baseline_co_bps", "vel_r2", "baseline_vel_r2")),
}


@pytest.mark.parametrize("name", list(LDIDP))
def test_ldidp_runs_sample_and_evaluate(ran, name):
    # Given the README's LDIDP runs (spirals, spikes, MC_Maze; smoke-sized) and launch.evaluate
    # on each; then the samples have the data's shape (non-negative integer counts for spike
    # data), and eval/ holds finite numbers, the report, its figure and the scored windows.
    (shape, keys), workdir = LDIDP[name], os.path.join(ran["workdirs"], name)
    out = os.path.join(workdir, "s.npz" if name == "ldidp" else "samples.npz")
    with np.load(out) as f:
        samples = f["samples"]
    assert samples.shape == (4 if name == "ldidp" else 6, *shape), samples.shape
    assert np.isfinite(samples).all()
    if name != "ldidp":
        assert samples.min() >= 0
        np.testing.assert_array_equal(samples, np.round(samples))
    with open(os.path.join(workdir, "eval", "metrics.json")) as f:
        numbers = json.load(f)
    assert numbers["method"] == "ldidp" and numbers["train_steps"] == 4
    for key in ("test_elbo", "mmd", "mmd_real", *keys):
        assert np.isfinite(numbers[key]), key
    assert numbers["mmd"] >= 0
    figure = "latents.png" if name == "ldidp" else "raster.png"
    assert os.path.getsize(os.path.join(workdir, "eval", figure)) > 1000
    with open(os.path.join(workdir, "eval", "report.md")) as f:
        assert f"({figure})" in f.read()
    with np.load(os.path.join(workdir, "eval", "samples.npz")) as f:
        assert f["samples"].shape == (8, *shape)


def test_every_phase_announces_itself(ran):
    # Given the apps run as the README shows; then each phase of work wrote its start line to
    # stderr (the first thing it does, so within seconds of starting), e.g. each metric.
    for command, expected in PHASES.items():
        err = "".join(e for _, _, e in ran[command])
        lines = err.splitlines()
        missing = [x for x in expected if not any(line.startswith(x) for line in lines)]
        assert not missing, (command, missing, err[-2000:])


def test_main_command_is_short_and_names_its_outputs(ran):
    # Given the README's main command (smoke-sized); then it prints at most 40 lines, on
    # stdout and stderr together, and ends with a summary naming samples.npz and samples.png.
    ((status, out, err),) = ran[next(iter(RUN))]
    lines = (out + err).splitlines()
    assert len(lines) <= 40, lines
    last = out.splitlines()[-1]
    assert last.startswith("train: wrote ") and "samples.npz" in last and "samples.png" in last
    assert "Traceback" not in err and not [line for line in lines if line[:1] in "IWE"], lines
