"""Downloads the named datasets from their public sources, checking each file's SHA-256.

    python -m launch.data                 # list the datasets, their sources, where each is found
    python -m launch.data --name=energy   # download one into $LDX_DATA_DIR, else ~/.cache/ldx/data
    python -m launch.data --name=all      # every dataset; then one error line for any failure

The loaders then find the files with no further setting. `LDX_DATA_MIRROR=<url>` fetches
`<url>/<path>` instead of each file's own URL. Sources and hashes: `ldx/data/download.py`.
"""

from absl import app, flags

from launch import common
from ldx.data import download

_NAME = flags.DEFINE_string(
    "name", None, f"Dataset to download: one of {', '.join(download.NAMES)}, or all."
)
_TIMEOUT = flags.DEFINE_float("timeout", 60.0, "Seconds a connection may stall.", lower_bound=1)


def _listing() -> None:
    common.say("data", f"downloads go to {download.target_dir()}")
    for remote in download.FILES:
        source = remote.url or f"by hand ({remote.origin})"
        common.say("data", f"{remote.name:13s} {remote.path}: {download.status(remote)}")
        common.say("data", f"{'':13s} source: {source}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if _NAME.value is None:
        return _listing()
    paths = download.download(
        _NAME.value,
        timeout=_TIMEOUT.value,
        report=lambda line: common.say("data", line),
    )
    common.say("data", f"{len(paths)} file(s) ready; the loaders find them with no setting")


if __name__ == "__main__":
    common.run(main)
