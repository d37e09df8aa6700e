"""Datasets from their sources: the files of ../shared/data served on 127.0.0.1 stand in for them.

Checks the whole path: download, checksum, a corrupted download refused, a connection refused,
and the loaders then reading from the cache with no setting.
"""

import functools
import http.server
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from ldx.data import download, sources
from ldx.errors import DataError
from tests.conftest import ROOT

REFERENCE = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
pytestmark = pytest.mark.skipif(
    not os.path.isdir(REFERENCE), reason=f"reference data folder {REFERENCE} absent"
)


def _serve(folder: str):
    """An HTTP server of `folder` on 127.0.0.1 in a thread; returns (server, base URL)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def mirror():
    """The reference files, served as the public sources would serve them."""
    server, url = _serve(REFERENCE)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def corrupt_mirror(tmp_path):
    """A server whose energy file has other bytes (one flipped digit)."""
    folder = tmp_path / "served"
    (folder / "energy").mkdir(parents=True)
    good = open(os.path.join(REFERENCE, "energy", "energy_data.csv"), "rb").read()
    (folder / "energy" / "energy_data.csv").write_bytes(good.replace(b"1", b"2", 1))
    server, url = _serve(str(folder))
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: a connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh HOME and working directory (no ../shared/data) and no LDX_DATA_* variables."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LDX_DATA_DIR", raising=False)
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    work = tmp_path / "work" / "repo"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    return tmp_path / "home"


def _tree(folder) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs
    )


def test_table_hashes_are_those_of_the_reference_files():
    for remote in download.FILES:
        assert download.sha256_of(os.path.join(REFERENCE, remote.path)) == remote.sha256, remote


def test_table_covers_every_named_loader_file_in_its_layout():
    paths = {f.path for f in download.FILES}
    for name, (relpath, _) in sources._NAMED.items():
        assert relpath in paths and name in download.NAMES, name


def test_download_then_loader_reads_the_cache_with_no_setting(home, mirror):
    cache = home / ".cache" / "ldx" / "data"
    with pytest.raises(DataError, match=r"python -m launch\.data --name=energy"):
        sources.load_source("energy")
    lines = []
    paths = download.download("energy", mirror=mirror, report=lines.append)
    assert paths == [str(cache / "energy" / "energy_data.csv")]
    assert _tree(cache) == ["energy/energy_data.csv"]  # No temporary file left.
    assert len(lines) == 1 and "checksum ok" in lines[0]
    x = sources.load_source("energy")
    reference = sources.load_source("energy", data_dir=REFERENCE)
    assert x.shape == (19735, 28)
    np.testing.assert_array_equal(x, reference)


def test_good_file_is_not_downloaded_again(home, closed_port_url, mirror):
    (path,) = download.download("stocks", mirror=mirror)
    before = os.stat(path).st_mtime_ns
    lines = []
    assert download.download("stocks", mirror=closed_port_url, report=lines.append) == [path]
    assert "already present" in lines[0]
    assert os.stat(path).st_mtime_ns == before


def test_corrupted_download_is_refused_and_nothing_is_left(home, corrupt_mirror):
    with pytest.raises(DataError, match=r"SHA-256 [0-9a-f]{64}, expected 0869e4.*refused"):
        download.download("energy", mirror=corrupt_mirror)
    assert not home.exists()  # Not even the folders it made.


def test_offline_names_the_url_and_where_to_put_the_file(home, closed_port_url):
    url = f"{closed_port_url}/etth1/ETTh1.csv"
    dest = home / ".cache" / "ldx" / "data" / "etth1" / "ETTh1.csv"
    with pytest.raises(
        DataError, match=r"cannot download (\S+) \(.*refused.*put it at (\S+)$"
    ) as e:
        download.download("etth1", mirror=closed_port_url)
    assert url in str(e.value) and str(dest) in str(e.value)
    assert not home.exists()


def test_missing_on_the_server_is_an_http_error(home, tmp_path):
    server, url = _serve(str(tmp_path))
    try:
        with pytest.raises(DataError, match=r"HTTP 404"):
            download.download("stocks", mirror=url)
    finally:
        server.shutdown()
        server.server_close()
    assert not home.exists()


def test_existing_file_with_other_bytes_is_refused_and_kept(tmp_path, monkeypatch, mirror):
    monkeypatch.setenv("LDX_DATA_DIR", str(tmp_path))
    path = tmp_path / "stocks" / "stock_data.csv"
    path.parent.mkdir()
    path.write_bytes(b"Open\n1\n")
    with pytest.raises(DataError, match=r"exists with SHA-256 .* left as it is"):
        download.download("stocks", mirror=mirror)
    assert path.read_bytes() == b"Open\n1\n"


def test_no_public_url_names_the_sources_and_the_place(home, mirror):
    with pytest.raises(DataError, match=r"fmri has no public single-file URL: .*netsim.*put it at"):
        download.download("fmri", mirror="")
    assert not home.exists()
    # A mirror that holds it serves it like any other file.
    (path,) = download.download("fmri", mirror=mirror)
    assert sources.load_source("fmri").shape == (10000, 50)
    assert path.endswith("fmri/sim4.mat")


def test_all_downloads_every_file_into_ldx_data_dir(tmp_path, monkeypatch, mirror):
    monkeypatch.setenv("LDX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(download.MIRROR_ENV, mirror)
    download.download("all")
    assert _tree(tmp_path) == sorted(f.path for f in download.FILES)
    assert sources.dataset_path("mc_maze") == str(tmp_path / "mc_maze_small" / "train.npz")
    assert sources.load_source("mc_maze").shape == (75, 140, 142)


def test_all_tries_every_file_then_names_each_failure(tmp_path, corrupt_mirror):
    target = tmp_path / "data"
    # The corrupt mirror serves other bytes for energy and nothing else.
    with pytest.raises(DataError, match=r"^7 of 7 files not downloaded: stocks: .*HTTP 404"):
        download.download("all", data_dir=str(target), mirror=corrupt_mirror)
    with pytest.raises(DataError, match=r"energy: .*SHA-256 .*; etth1: .*HTTP 404"):
        download.download("all", data_dir=str(target), mirror=corrupt_mirror)
    assert not target.exists()


def test_mirror_must_be_a_url():
    with pytest.raises(DataError, match="LDX_DATA_MIRROR='/srv/data' is not a URL"):
        download.download("stocks", mirror="/srv/data")


def _launch(*args, **env):
    return subprocess.run(
        [sys.executable, "-m", "launch.data", *args],
        cwd=ROOT,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_launch_data_downloads_lists_and_refuses(tmp_path, mirror, closed_port_url):
    target = str(tmp_path / "data")
    ok = _launch("--name=etth1", LDX_DATA_DIR=target, LDX_DATA_MIRROR=mirror)
    assert ok.returncode == 0, ok.stderr
    assert f"-> {target}/etth1/ETTh1.csv" in ok.stdout
    assert ok.stderr == f"data: downloading {mirror}/etth1/ETTh1.csv ...\n"  # its phase line
    listing = _launch(LDX_DATA_DIR=target)
    assert listing.returncode == 0, listing.stderr
    assert f"etth1/ETTh1.csv: ok at {target}/etth1/ETTh1.csv" in listing.stdout
    assert "stocks/stock_data.csv: missing" in listing.stdout
    for args, message in (
        (("--name=stock",), "error: unknown dataset 'stock'"),
        (("--name=stocks",), f"error: cannot download {closed_port_url}/stocks/stock_data.csv"),
    ):
        bad = _launch(*args, LDX_DATA_DIR=target, LDX_DATA_MIRROR=closed_port_url)
        assert bad.returncode == 1
        assert bad.stderr.startswith(message) and bad.stderr.count("\n") == 1, bad.stderr
    assert _tree(target) == ["etth1/ETTh1.csv"]
