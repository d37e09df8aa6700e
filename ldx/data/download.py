"""The named datasets' public sources: one table of URL and SHA-256 per file, and the download.

    python -m launch.data                 # list the datasets and where each is found
    python -m launch.data --name=energy   # download one (or --name=all) into the data folder

Where data lives. Loaders look for a named dataset's file in `$LDX_DATA_DIR` when it is set, and
otherwise in `../shared/data` (the project's reference copy, beside a checkout) and then in the
download cache `~/.cache/ldx/data`; `launch.data` writes to `$LDX_DATA_DIR`, else to that cache.
Each file keeps its path relative to the folder (`energy/energy_data.csv`, ...), the layout the
loaders read.

A download goes to a temporary file beside its target, its SHA-256 is checked against `FILES`
(the hashes of the reference copies), and only then is it renamed into place; a file with other
bytes is deleted and refused. A target that is already there with the right hash is not fetched
again. `$LDX_DATA_MIRROR` (or the `mirror` argument) replaces every URL by `<mirror>/<path>`: a
server or `file://` folder laid out like the data folder (the tests serve `../shared/data`).
Only the standard library (urllib) does HTTP.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable

from ldx.errors import DataError
from ldx.progress import phase

MIRROR_ENV = "LDX_DATA_MIRROR"
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Remote:
    """One file of a named dataset.

    Attributes:
      name: the dataset (`load_source` / `launch.data --name`).
      path: the file relative to the data folder, as the loaders read it.
      sha256: hex digest of the reference bytes.
      url: a public URL serving exactly those bytes; "" when none is known (manual download).
      origin: where the data comes from, and how to get the file by hand when `url` is "".
    """

    name: str
    path: str
    sha256: str
    url: str
    origin: str


_TIMEGAN = "https://raw.githubusercontent.com/jsyoon0823/TimeGAN/master/data/"
_MIREPNET = (
    "https://raw.githubusercontent.com/ABLT1273/MIRepNet/447b55fd7e20408ac71b148f99e709d37bd1a247/"
    "GAN/DMM-WcycleGAN/"
)
# The one table of sources. Hashes: sha256sum of the files of ../shared/data. No URL could be
# fetched where this table was written (no internet there): each is the best public single-file
# source found, and the checksum is what vouches for the bytes.
FILES: tuple[Remote, ...] = (
    Remote(
        "stocks",
        "stocks/stock_data.csv",
        "134b8a00eb4eefa3242dd7ae85144082da80dedf75a1a656d5d08f97cd95277a",
        _TIMEGAN + "stock_data.csv",
        "TimeGAN repository (Yoon et al. 2019), data/stock_data.csv: daily Google stock",
    ),
    Remote(
        "energy",
        "energy/energy_data.csv",
        "0869e426fd33995b4028e092e90ae75c38756172c652b287639d4415985901f2",
        _TIMEGAN + "energy_data.csv",
        "TimeGAN repository, data/energy_data.csv: UCI Appliances energy prediction, date dropped",
    ),
    Remote(
        "etth1",
        "etth1/ETTh1.csv",
        "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
        "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv",
        "ETDataset (Zhou et al. 2021), ETT-small/ETTh1.csv",
    ),
    Remote(
        "fmri",
        "fmri/sim4.mat",
        "ea9e41cf9aceb00bbb887e11a447ba9965401c20557507ca914e20521e67a0b8",
        "",
        "NetSim (Smith et al. 2011) simulation 4; no single-file public URL is known: it ships in "
        "archives, the NetSim page https://www.fmrib.ox.ac.uk/datasets/netsim/ and Diffusion-TS's "
        "dataset.zip (https://drive.google.com/file/d/11DI22zKWtHjXMnNGPWNUbyGz-JiEtZy6/view); "
        "take sim4.mat out of one",
    ),
    Remote(
        "mc_maze",
        "mc_maze_small/train.npz",
        "3eeb5dac403ade848a2bf73cd7b5d7c8d6ce33a14aa3b2f5c21def9cfa3b799b",
        _MIREPNET + "processed/mc_maze_small/gan_ready/train.npz",
        "NLB'21 MC_Maze_Small (DANDI 000140, NWB files), train split as nlb_tools tensors "
        "repacked into .npz in the MIRepNet repository",
    ),
    Remote(
        "mc_maze_eval",
        "mc_maze_small/eval.npz",
        "4d98b07532945db50c2f30f135bf13731dbbde5f78d48bdcddf29a39bb1634f3",
        _MIREPNET + "processed_smoke_gan/eval.npz",
        "NLB'21 MC_Maze_Small eval split (held-out neurons hidden; ldx does not read it), "
        "repacked into .npz in the MIRepNet repository",
    ),
    Remote(
        "earthquakes",
        "earthquakes/Japan_catalog.csv",
        "7845bbe2d4de930bc80e2f1d6a9797d4f4a63abdcc0e630246654774c22c71c9",
        "https://raw.githubusercontent.com/ss15859/EarthquakeNPP/"
        "2e4224ce1251953ee4b9e4a0dadf37b6280da728/Datasets/Japan_Deprecated/Japan_catalog.csv",
        "USGS ComCat, Japan 1990-2019, as assembled by the EarthquakeNPP repository",
    ),
)
NAMES = tuple(dict.fromkeys(f.name for f in FILES))


def cache_dir() -> str:
    """The download cache, `~/.cache/ldx/data` (beside the compilation cache `~/.cache/ldx/xla`)."""
    return os.path.join(os.path.expanduser("~"), ".cache", "ldx", "data")


def target_dir() -> str:
    """Where `launch.data` writes: `$LDX_DATA_DIR`, else the download cache."""
    return os.environ.get("LDX_DATA_DIR") or cache_dir()


def search_dirs() -> tuple[str, ...]:
    """Where loaders look, in order: `$LDX_DATA_DIR` alone, else `../shared/data` and the cache."""
    if os.environ.get("LDX_DATA_DIR"):
        return (os.environ["LDX_DATA_DIR"],)
    return (os.path.join("..", "shared", "data"), cache_dir())


def locate(relpath: str, data_dir: str | None = None) -> str:
    """The path of a data file: under `data_dir` if given, else the first search dir holding it.

    A file found nowhere resolves to where `launch.data` would put it.
    """
    if data_dir:
        return os.path.join(data_dir, relpath)
    for folder in search_dirs():
        if os.path.isfile(os.path.join(folder, relpath)):
            return os.path.join(folder, relpath)
    return os.path.join(target_dir(), relpath)


def files_of(name: str) -> tuple[Remote, ...]:
    """The files of dataset `name`, or of every dataset for `all`."""
    if name == "all":
        return FILES
    if name not in NAMES:
        raise DataError(f"unknown dataset {name!r}, expected one of {[*NAMES, 'all']}")
    return tuple(f for f in FILES if f.name == name)


def missing_message(name: str, path: str) -> str:
    """The loaders' message for a named dataset whose file is absent."""
    return (
        f"{name} data file not found: {path!r}. Download it with `python -m launch.data "
        f"--name={name}` (into $LDX_DATA_DIR, else {cache_dir()}), or set config.data.path to "
        "the file or LDX_DATA_DIR to the folder holding it."
    )


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def resolve_mirror(mirror: str | None = None) -> str:
    """The base URL replacing the table's URLs: `mirror`, or `$LDX_DATA_MIRROR` if None; "" none."""
    mirror = os.environ.get(MIRROR_ENV, "") if mirror is None else mirror
    if mirror and not mirror.startswith(("http://", "https://", "file://")):
        raise DataError(
            f"{MIRROR_ENV}={mirror!r} is not a URL; expected http://, https:// or file://"
        )
    return mirror.rstrip("/")


def _reason(e: Exception) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return f"{type(e).__name__}: {e}"


def _fetch_verified(url: str, dest: str, sha256: str, timeout: float) -> int:
    """Streams `url` into a temporary file beside `dest`, checks it, renames it. Returns bytes."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=f".{os.path.basename(dest)}.")
    try:  # The temporary file goes whatever happens, interrupts included.
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                length = r.headers.get("Content-Length") if hasattr(r, "headers") else None
                total = int(length) if length and length.isdigit() else None
                with phase(f"downloading {url}", total, "B") as bar:
                    while block := r.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        size += len(block)
                        bar.update(len(block))
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError is an OSError.
            raise DataError(
                f"cannot download {url} ({_reason(e)}); download it by hand and put it at {dest}"
            ) from e
        if digest.hexdigest() != sha256:
            raise DataError(
                f"{url}: downloaded {size} bytes with SHA-256 {digest.hexdigest()}, expected "
                f"{sha256}; refused, nothing kept (the source changed or the transfer was "
                "corrupted)"
            )
        os.replace(tmp, dest)
        return size
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download(
    name: str,
    data_dir: str | None = None,
    mirror: str | None = None,
    *,
    timeout: float = 60.0,
    report: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Downloads dataset `name` (or `all`) into `data_dir`, checking each file's SHA-256.

    Args:
      name: a dataset of `NAMES`, or `all`.
      data_dir: the folder to write to; None or "" means `target_dir()`.
      mirror: base URL replacing the table's URLs; None means `$LDX_DATA_MIRROR`.
      timeout: seconds a connection may stall.
      report: called with one line per file (what was done).

    Returns:
      the paths of the dataset's files, all present and verified.

    Raises:
      DataError: an unknown name, a file without a public URL, a download that fails or whose
        checksum differs (nothing is kept), or a file already in place with other bytes (left
        as it is). For `all`, every dataset is tried first, then one error names each failure.
    """
    folder, mirror = data_dir or target_dir(), resolve_mirror(mirror)
    paths, failures = [], []
    for remote in files_of(name):
        try:
            paths.append(_ensure(remote, folder, mirror, timeout, report))
        except DataError as e:
            if name != "all":
                raise
            failures.append(f"{remote.name}: {e}")
    if failures:
        raise DataError(
            f"{len(failures)} of {len(FILES)} files not downloaded: " + "; ".join(failures)
        )
    return paths


def _ensure(
    remote: Remote, folder: str, mirror: str, timeout: float, report: Callable[[str], None]
) -> str:
    """Puts `remote` under `folder` unless it is there already; returns its path."""
    dest = os.path.join(folder, remote.path)
    if os.path.lexists(dest):
        try:
            found = sha256_of(dest)
        except OSError as e:
            raise DataError(f"{dest} exists but cannot be read as a file ({_reason(e)})") from e
        if found != remote.sha256:
            raise DataError(
                f"{dest} exists with SHA-256 {found}, expected {remote.sha256}; left as it is: "
                "delete it to download it again"
            )
        report(f"{remote.name}: {dest} already present, checksum ok")
        return dest
    url = f"{mirror}/{remote.path}" if mirror else remote.url
    if not url:
        raise DataError(
            f"{remote.name} has no public single-file URL: {remote.origin}; put it at {dest}"
        )
    made: list[str] = []
    try:
        _make_parents(os.path.dirname(dest), made)
        size = _fetch_verified(url, dest, remote.sha256, timeout)
    except (DataError, OSError) as e:
        for d in reversed(made):  # Leave nothing behind: the folders this call made, too.
            if not os.listdir(d):
                os.rmdir(d)
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot write {dest}: {_reason(e)}") from e
    report(f"{remote.name}: {url} -> {dest} ({size / 1e6:.1f} MB, checksum ok)")
    return dest


def _make_parents(folder: str, made: list[str]) -> None:
    """Creates `folder` and its missing parents, appending each one made to `made`."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for d in reversed(missing):
        os.mkdir(d)
        made.append(d)


def status(remote: Remote) -> str:
    """Where a file is found and whether its bytes are the reference ones."""
    path = locate(remote.path)
    if not os.path.isfile(path):
        return "missing"
    return f"ok at {path}" if sha256_of(path) == remote.sha256 else f"other bytes at {path}"
