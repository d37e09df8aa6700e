"""What every launch app shares: one clear message and exit status 1 for bad input, quiet logs.

Library, JAX and Orbax log lines are shown from WARNING up unless --verbosity (or -v) is given:
the apps say what they do and what they wrote themselves, in a few lines (`say`).

A run stopped by a preemption notice (SIGTERM, after saving a checkpoint) exits with status 143,
128 + SIGTERM, as a shell reports a process ended by SIGTERM: schedulers see a job to retry.
"""

from __future__ import annotations

import functools
import logging as std_logging
import os
import sys

import ml_collections
from absl import app, flags, logging

from ldx import compilation_cache
from ldx.errors import ConfigError, LdxError, Preempted


def _one_line(message: str) -> str:
    """One line of a message; of an embedded traceback, its last line (the error itself)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if len(lines) > 1 and any(line.startswith("Traceback") for line in lines):
        return f"{lines[0].rstrip(':')}: {lines[-1]}"
    return " ".join(lines)


def say(app_name: str, message: str) -> None:
    """One progress or summary line of a launch app, on stdout, flushed at once."""
    print(f"{app_name}: {message}", flush=True)


class _NoTracebacks(std_logging.Filter):
    """Log records without their tracebacks: a failed checkpoint write makes Orbax's threads
    log one each, while the app ends with the one `error:` line that says what failed."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


def _quiet_logs() -> None:
    """absl (and through it JAX, Orbax) at WARNING, without tracebacks, unless the user asked
    for a verbosity."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
        logging.get_absl_handler().addFilter(_NoTracebacks())


def _fail(message: str, status: int = 1, prefix: str = "error"):
    print(f"{prefix}: {_one_line(message)}", file=sys.stderr)
    sys.exit(status)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with bad flags and bad --config.* overrides reported in one line."""
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
    """The ConfigDict of a DEFINE_config_file flag; ConfigError if its file did not load.

    ml_collections defers a config file's load error to the first use of the config.
    """
    config = holder.value
    if not isinstance(config, ml_collections.ConfigDict):
        try:
            config.method  # Raises the deferred error.
        except OSError as e:
            reason = str(e.__cause__ or e).strip().splitlines()[-1].strip()
            raise ConfigError(
                f"cannot load {flags.FLAGS[holder.name].serialize()}: {reason}"
            ) from e
        raise ConfigError(f"--{holder.name} did not give a ConfigDict but {type(config)}.")
    return config


def env_int(name: str) -> int | None:
    """Integer environment variable `name`, None if unset; ConfigError if not an integer."""
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer.") from None


def run(main) -> None:
    """app.run(main) with the compilation cache on, and LdxError and OSError (a full disk,
    permissions) turned into `error: ...`."""

    @functools.wraps(main)
    def wrapped(argv):
        _quiet_logs()
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

    app.run(wrapped, flags_parser=parse_flags)
