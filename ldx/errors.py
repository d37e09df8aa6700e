"""Errors of ldx. Launch apps turn an `LdxError` into one `error: ...` line and exit status 1.

`Preempted` is not an error: training stopped on a preemption notice (SIGTERM) after saving a
checkpoint, and rerunning the same command resumes it. Launch apps exit with status 143
(128 + SIGTERM), as a shell reports a process ended by SIGTERM, so schedulers retry the job.
"""


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


class Preempted(Exception):
    """Training stopped at a step boundary on a preemption notice, after saving a checkpoint."""

    exit_code = 143  # 128 + SIGTERM
