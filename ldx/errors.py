"""Errors of ldx, and the checks of input shared by several modules. Launch apps turn an
`LdxError` into one `error: ...` line and exit status 1.

`Preempted` is not an error: training stopped on a preemption notice (SIGTERM) after saving a
checkpoint, and rerunning the same command resumes it. Launch apps exit with status 143
(128 + SIGTERM), as a shell reports a process ended by SIGTERM, so schedulers retry the job.
"""

import os


class LdxError(ValueError):
    """Bad input: the message names the file, field or value and what was expected."""


class DataError(LdxError):
    """A data file or data setting is unusable."""


class ConfigError(LdxError):
    """A config field, flag or environment variable is unknown or has an invalid value."""


class CheckpointError(LdxError):
    """A workdir or checkpoint is missing, corrupt or from another config."""


class NonFiniteError(LdxError):
    """Training diverged: too many consecutive steps with a non-finite loss or gradient."""


class NonFiniteSamples(LdxError):
    """A trained model generated NaN or Inf values."""


class Preempted(Exception):
    """Training stopped at a step boundary on a preemption notice, after saving a checkpoint."""

    exit_code = 143  # 128 + SIGTERM


def check_config(config, section: str, choices=None, positive=(), conditions=()) -> None:
    """Raises a ConfigError naming `config.<section>.<field>` for the first bad field.

    Args:
      config: a config dataclass.
      section: its section, e.g. "model".
      choices: {field: allowed values}.
      positive: integer fields that must be >= 1.
      conditions: (field, ok, expected) triples; the message says the field "must be <expected>".
    """
    for name, allowed in (choices or {}).items():
        if getattr(config, name) not in allowed:
            value = getattr(config, name)
            raise ConfigError(f"config.{section}.{name}={value!r} is not one of {allowed}.")
    at_least_1 = [(name, getattr(config, name) >= 1, ">= 1") for name in positive]
    for name, ok, expected in [*at_least_1, *conditions]:
        if not ok:
            value = getattr(config, name)
            raise ConfigError(f"config.{section}.{name}={value} must be {expected}.")


def check_writable(path: str) -> None:
    """Raises LdxError unless file or folder `path` can be written; creates nothing.

    Long work (sampling, measuring) checks its output location first: the nearest existing
    folder on the way to `path` must be a folder this process may write into.
    """
    target = os.path.abspath(path)
    existing = target
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if existing == target and not os.path.isdir(target):
        existing = os.path.dirname(target)  # a file to replace: it is written into its folder
    if not os.path.isdir(existing):
        raise LdxError(f"cannot write {path!r}: {existing!r} is a file, expected a directory.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LdxError(
            f"cannot write {path!r}: {existing!r} is not writable (permissions, or a "
            "read-only file system)."
        )


def claim_output(output: str, overwrite: bool) -> str:
    """Checks an app's `--output` .npz and its `.json` record may be written; returns the stem.

    Raises LdxError (before any work) if the name does not end in .npz, either file exists
    without `overwrite`, or the folder is not writable.
    """
    if not output.endswith(".npz"):
        raise LdxError(f"--output={output!r} must end in .npz.")
    stem = os.path.splitext(output)[0]
    for path, what in ((output, "--output"), (stem + ".json", "its record")):
        if os.path.exists(path) and not overwrite:
            raise LdxError(f"{what}={path!r} exists; pass --overwrite to replace it.")
    check_writable(output)
    return stem
