"""What every launch app shares: one clear message and exit status 1 for bad input."""

from __future__ import annotations

import functools
import sys

from absl import app, flags, logging

from ldx import compilation_cache
from ldx.errors import LdxError


def _fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


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


def run(main) -> None:
    """app.run(main) with the compilation cache on and LdxError turned into `error: ...`."""

    @functools.wraps(main)
    def wrapped(argv):
        compilation_cache.enable()
        try:
            return main(argv)
        except LdxError as e:
            logging.error("%s", e)
            _fail(str(e))

    app.run(wrapped, flags_parser=parse_flags)
