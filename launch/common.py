"""What every launch app shares: one clear message and exit status 1 for bad input, quiet logs,
`--help_config`, and the run readers' --config.<field>= overrides and --seed.

Library, JAX and Orbax log lines are shown from WARNING up unless --verbosity (or -v) is given:
the apps say what they do and what they wrote themselves, in a few lines (`say`).

A run stopped by a preemption notice (SIGTERM, after saving a checkpoint) exits with status 143,
128 + SIGTERM, as a shell reports a process ended by SIGTERM: schedulers see a job to retry.
"""

from __future__ import annotations

import ast
import functools
import importlib
import io
import logging as std_logging
import os
import re
import sys
import tokenize

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from ldx import compilation_cache, progress
from ldx.errors import ConfigError, LdxError, Preempted
from ldx.eval.report import write_json
from ldx.train import checkpoint

_HELP_CONFIG = flags.DEFINE_bool(
    "help_config",
    False,
    "Print every config field with its default (or, with --workdir, the run's value) and its "
    "comment in the config file, then exit.",
)
# What the apps that read a trained run (launch.sample, evaluate, dependency) may change with
# --config.<field>=: how series are drawn from it, never what was trained.
RUN_FIELDS = ("sample",)
_OVERRIDE = re.compile(r"^--?(no)?config\.")
_run_overrides: list[str] = []  # this process's --config.* arguments, for `run_config`
_reads_run = False  # set by `run(main, reads_run=True)`


def _one_line(message: str) -> str:
    """One line of a message; of an embedded traceback, its last line (the error itself)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if len(lines) > 1 and any(line.startswith("Traceback") for line in lines):
        return f"{lines[0].rstrip(':')}: {lines[-1]}"
    return " ".join(lines)


def say(app_name: str, message: str) -> None:
    """One summary line of a launch app (what it did, what it wrote), on stdout, flushed at
    once; the phases of work announce themselves on stderr (`ldx.progress`)."""
    print(f"{app_name}: {message}", flush=True)


class _NoTracebacks(std_logging.Filter):
    """Log records without their tracebacks: a failed checkpoint write makes Orbax's threads
    log one each, while the app ends with the one `error:` line that says what failed."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


class _HoldOrbaxErrors(std_logging.Filter):
    """Holds Orbax's ERROR records back until the app ends: a failed checkpoint write (a full
    disk) makes its threads log several while the main thread turns the failure into the one
    `error:` line, which then replaces them; an app that ends otherwise shows them at its end."""

    def __init__(self):
        super().__init__()
        self.held: list[std_logging.LogRecord] = []

    def filter(self, record: std_logging.LogRecord) -> bool:
        if getattr(record, "released", False) or record.levelno < std_logging.ERROR:
            return True
        if f"{os.sep}orbax{os.sep}" not in record.pathname:
            return True
        self.held.append(record)
        return False

    def release(self) -> None:
        for record in self.held:
            record.released = True
            logging.get_absl_handler().handle(record)
        self.held.clear()


_held = _HoldOrbaxErrors()


def _quiet_unraisable(unraisable) -> None:
    """sys.unraisablehook without TensorStore's "Event loop is closed": after a failed write
    its threads complete futures of Orbax's event loop, already closed (nothing is lost)."""
    if unraisable.exc_type is RuntimeError and str(unraisable.exc_value) == "Event loop is closed":
        return
    sys.__unraisablehook__(unraisable)


def _quiet_logs() -> None:
    """absl (and through it JAX, Orbax) at WARNING, without tracebacks, unless the user asked
    for a verbosity; Orbax's errors held back (`_HoldOrbaxErrors`)."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
        logging.get_absl_handler().addFilter(_NoTracebacks())
        logging.get_absl_handler().addFilter(_held)
        sys.unraisablehook = _quiet_unraisable


def _fail(message: str, status: int = 1, prefix: str = "error"):
    """Prints `prefix: message` as the app's last line and exits with `status`.

    An error (status 1) ends the process at once (os._exit): after a failed checkpoint write
    Orbax's and TensorStore's threads are still unwinding and could print after the line
    during the interpreter's shutdown. Nothing at exit needs to run then: the workdir lock is
    the kernel's, files are closed. A preempted run (143) exits normally, its save complete.
    """
    _held.held.clear()
    print(f"{prefix}: {_one_line(message)}", file=sys.stderr)
    if status == 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with bad flags and bad --config.* overrides reported in one line.

    `--help_config` prints the config fields and exits 0 before any flag is checked. In an app
    that reads a trained run (`run(main, reads_run=True)`) the --config.* arguments are kept for
    `run_config`; any outside RUN_FIELDS is refused here.
    """
    if _reads_run:
        argv = _take_run_overrides(argv)
    if any(re.fullmatch(r"--help_config(=(true|1))?", a, re.I) for a in argv[1:]):
        try:
            print(config_help(argv), end="")
        except LdxError as e:
            _fail(str(e))
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        _fail(str(e))
    except (KeyError, AttributeError, TypeError, ValueError) as e:
        overrides = " ".join(a for a in argv[1:] if a.startswith("--config.")) or "--config"
        reason = (
            f"no such config field {e}"
            if isinstance(e, (KeyError, AttributeError))
            else f"{type(e).__name__}: {e}"
        )
        _fail(
            f"cannot apply {overrides}: {reason}. Check the names and types of the fields "
            "in the config file."
        )


def config_value(holder: flags.FlagHolder) -> ml_collections.ConfigDict:
    """The ConfigDict of a DEFINE_config_file flag; ConfigError if its file did not load."""
    return _loaded(holder.value, flags.FLAGS[holder.name].serialize())


def _loaded(config, flag: str) -> ml_collections.ConfigDict:
    """`config` if a ConfigDict, else the ConfigError of its file's deferred load error.

    ml_collections defers a config file's load error to the first use of the config.
    """
    if not isinstance(config, ml_collections.ConfigDict):
        try:
            config.method  # Raises the deferred error.
        except OSError as e:
            reason = str(e.__cause__ or e).strip().splitlines()[-1].strip()
            raise ConfigError(f"cannot load {flag}: {reason}") from e
        raise ConfigError(f"{flag} did not give a ConfigDict but {type(config)}.")
    return config


def _take_run_overrides(argv: list[str]) -> list[str]:
    """argv without its --config.* arguments, which go to `_run_overrides` once checked."""
    ours = [a for a in argv[1:] if _OVERRIDE.match(a)]
    for arg in ours:
        field = _OVERRIDE.sub("", arg.split("=", 1)[0])
        if field.split(".")[0] not in RUN_FIELDS:
            _fail(
                f"cannot apply {arg}: config.{field} is fixed by the trained run; this app "
                f"changes only {', '.join(f'config.{f}.*' for f in RUN_FIELDS)} (how series "
                "are drawn). Train another run to change it."
            )
    _run_overrides[:] = ours
    return [argv[0]] + [a for a in argv[1:] if a not in ours]


def run_config(workdir: str) -> tuple[ml_collections.ConfigDict, dict]:
    """The config `workdir`'s run was trained with, this app's --config.<field>= applied.

    The overrides are parsed by ml_collections against the stored config, as launch.train's
    are against its config file. Returns (config, {field: new value}); ConfigError names an
    override the run has no field for (e.g. an LD sampler setting on an ldidp run).
    """
    config = checkpoint.load_config(workdir)
    if not _run_overrides:
        return config, {}
    argv = ["app", *_run_overrides]
    try:
        values = flags.FlagValues()
        holder = config_flags.DEFINE_config_dict(
            "config", config, flag_values=values, sys_argv=argv
        )
        values(argv)
    except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as e:
        reason = "no such field" if isinstance(e, (KeyError, AttributeError)) else _one_line(e)
        raise ConfigError(
            f"cannot apply {' '.join(_run_overrides)} to the run in {workdir}: {reason} "
            f"(its config.sample fields: {', '.join(config.sample)})."
        ) from None
    return holder.value, config_flags.get_override_values(values["config"])


def sampling_seed(holder: flags.FlagHolder) -> int:
    """--seed, or when not given a fresh one from os.urandom (not the training samples' seed)."""
    if holder.value is None:
        return int.from_bytes(os.urandom(4), "little") >> 1
    if holder.value < 0:
        raise ConfigError(f"--seed={holder.value} must be an integer >= 0.")
    return holder.value


def write_settings(path: str, run, seed: int, config, overrides: dict, **extra) -> None:
    """Records beside an app's output what drew it: the run and its checkpoint step, the seed,
    the --config overrides and the resulting config.sample."""
    write_json(
        path,
        dict(
            workdir=run.workdir,
            step=int(run.state.step),
            seed=seed,
            overrides=overrides,
            sample=config.sample.to_dict(),
            **extra,
        ),
    )


_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
_FAMILY_FILES = {"ldidp": "ldidp_spiral.py"}  # the file with every field of a method's family


def config_comments(path: str) -> dict[str, str]:
    """{field: comment} of a config file, in the order of its base files' fields.

    A field's comment ends the line of its first assignment (`config.a.b = 1  # ...`) or is
    the comment lines right above it. The configs/ files that `path` imports come first; the
    file's own comment replaces an imported one.
    """
    with open(path) as f:
        source = f.read()
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    out: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):  # bases first: their order and comments
        if isinstance(node, ast.ImportFrom) and node.module == "configs":
            for alias in node.names:
                base = os.path.join(os.path.dirname(path), f"{alias.name}.py")
                out.update(config_comments(base))
    lines = source.splitlines()
    own: dict[str, str] = {}
    for i, line in enumerate(lines, 1):
        match = re.match(r"\s*config\.([\w.]+)\s*=[^=]", line)
        if not match or match.group(1) in own:
            continue
        above, j = [], i - 1
        while j >= 1 and lines[j - 1].strip().startswith("#"):
            above.insert(0, comments[j])
            j -= 1
        own[match.group(1)] = comments.get(i) or " ".join(above)
    for field, text in own.items():
        if text or field not in out:
            out[field] = text
    return out


def _leaves(config: ml_collections.ConfigDict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _flag_in(argv: list[str], name: str) -> str | None:
    """The value of --name=V (or --name V) in argv, None if absent."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def config_help(argv: list[str]) -> str:
    """--help_config's text: every field with its value and its config file's comment.

    launch.train: the fields of --config's file (default configs/default.py) at their
    defaults. An app that reads a trained run: with --workdir, the run's stored values (those
    it may change, RUN_FIELDS, marked *), else configs/default.py's defaults, as for any other.
    """
    workdir = _flag_in(argv, "workdir")
    marked = ()
    if "config" in flags.FLAGS:
        spec = _flag_in(argv, "config") or os.path.join(_CONFIGS, "default.py")
        config = _loaded(flags.FLAGS["config"].parser.parse(spec), f"--config={spec}")
        path = spec.split(":", 1)[0]
        head = f"Fields of {os.path.relpath(spec)}; override any with --config.<field>=VALUE."
    else:
        if workdir and _reads_run:
            config = checkpoint.load_config(workdir)
            path = os.path.join(_CONFIGS, _FAMILY_FILES.get(config.get("method"), "default.py"))
            head = (
                f"Fields of the run in {workdir} (its values; comments: {os.path.relpath(path)})."
            )
        else:
            path = os.path.join(_CONFIGS, "default.py")
            config = importlib.import_module("configs.default").get_config()
            head = f"Fields of {os.path.relpath(path)}."
        if _reads_run:
            marked = RUN_FIELDS
            changes = ", ".join(f"config.{f}.*" for f in RUN_FIELDS)
            head += f" This app may change those marked * ({changes}) with --config.<field>=VALUE"
            head += "." if workdir else "; pass --workdir to see a run's values."
    comments, values = config_comments(path), _leaves(config)
    order = [f for f in comments if f in values] + [f for f in values if f not in comments]
    rows = [
        ("*" if f.split(".")[0] in marked else " ", f"config.{f} = {values[f]!r}", comments.get(f))
        for f in order
    ]
    width = max(len(r[1]) for r in rows)
    body = [f"{m} {s:<{width}}  # {c}" if c else f"{m} {s}" for m, s, c in rows]
    return "\n".join([head, *body]) + "\n"


def env_int(name: str) -> int | None:
    """Integer environment variable `name`, None if unset; ConfigError if not an integer."""
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer.") from None


def run(main, reads_run: bool = False) -> None:
    """app.run(main) with the compilation cache on, and LdxError and OSError (a full disk,
    permissions) turned into `error: ...`; `reads_run` apps take --config.sample.* overrides."""

    @functools.wraps(main)
    def wrapped(argv):
        _quiet_logs()
        progress.enable(os.path.splitext(os.path.basename(argv[0]))[0])
        compilation_cache.enable()
        try:
            return main(argv)
        except LdxError as e:  # one line on stderr, not also an absl `E` line
            _fail(str(e))
        except OSError as e:  # the machine's, not the input's: a full disk, permissions, ...
            where = f": {e.filename!r}" if e.filename else ""
            _fail(f"{e.strerror or e}{where} (os error {e.errno}).")
        except Preempted as e:
            logging.warning("%s", e)
            _fail(str(e), Preempted.exit_code, prefix="preempted")
        finally:
            _held.release()  # after a `_fail`, none: its line said what went wrong

    global _reads_run
    _reads_run = reads_run  # an app reading a trained run takes --config.sample.* overrides
    app.run(wrapped, flags_parser=parse_flags)
