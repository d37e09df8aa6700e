"""Errors raised for bad user input. Launch apps print their message and exit 1."""


class LdxError(ValueError):
    """Bad input: the message names the file, field or value and what was expected."""


class DataError(LdxError):
    """A data file or data setting is unusable."""


class ConfigError(LdxError):
    """A config field is unknown or has an invalid value."""


class CheckpointError(LdxError):
    """A workdir or checkpoint is missing, corrupt or from another config."""
