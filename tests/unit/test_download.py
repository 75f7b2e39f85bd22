"""Download + checksum + safe extract, against a local HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from autotiny.data.download import download, safe_extract
from autotiny.data.speech_commands import SpeechCommands, resolve_root
from autotiny.errors import DataError
from tests.fakes import make_fake_speech_commands

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(autouse=True)
def _local_only(monkeypatch):
    # A proxy from the environment must never see (or forward) these requests.
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.delenv("AUTOTINY_DATA", raising=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, sha256) of a .tar.gz of a fake dataset, files at the archive top like the official one."""
    work = tmp_path_factory.mktemp("srv")
    data = make_fake_speech_commands(work / "data", per_class=3, layout="full", noise_seconds=4)
    archive = work / "www" / "sc.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(data.iterdir()):
            tar.add(p, arcname=p.name)
    handler = functools.partial(_Quiet, directory=str(archive.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sc.tar.gz", hashlib.sha256(archive.read_bytes()).hexdigest()
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/sc.tar.gz"  # nothing listens there now: refused


def test_download_verify_extract(served, tmp_path):
    url, sha = served
    root = resolve_root(None, url=url, sha256=sha, download_dir=tmp_path)
    assert root == tmp_path / "speech_commands_v0.02"
    ds = SpeechCommands(root)
    assert ds.layout == "full" and len(ds.clips("all")) > 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech_commands_v0.02"]  # archive, staging gone
    # A later call finds the extracted copy without touching the network.
    assert resolve_root(None, url=closed_port_url(), download_dir=tmp_path) == root


def test_wrong_checksum_is_rejected(served, tmp_path):
    url, _ = served
    with pytest.raises(DataError, match="sha256 mismatch"):
        resolve_root(None, url=url, sha256="0" * 64, download_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the bad file is not kept


def test_refused_connection_gives_actionable_error(tmp_path):
    url = closed_port_url()
    with pytest.raises(DataError) as e:
        resolve_root(None, url=url, download_dir=tmp_path, timeout=5)
    msg = str(e.value)
    assert msg.startswith("Speech Commands not found: set data.root=PATH or AUTOTINY_DATA=DIR")
    assert f"download from {url} failed:" in msg and "refused" in msg.lower()
    assert "\n" not in msg


def test_download_without_checksum(served, tmp_path):
    url, sha = served
    out = download(url, tmp_path / "a.tar.gz")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, payload: bytes = b"x") -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(payload) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return path


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt", "ok/../../escape.txt"])
def test_extract_rejects_escaping_members(tmp_path, name):
    archive = _tar_with(tmp_path, tarfile.TarInfo(name))
    with pytest.raises(DataError, match="escapes the target folder"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_extract_rejects_links(tmp_path):
    link = tarfile.TarInfo("yes/link.wav")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(DataError, match="link or special file"):
        safe_extract(_tar_with(tmp_path, link), tmp_path / "out")
