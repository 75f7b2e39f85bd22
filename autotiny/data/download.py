"""Fetch, verify and safely unpack a dataset archive (urllib + tarfile)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from autotiny.errors import DataError

_BLOCK = 1 << 20


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_BLOCK), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | Path, sha256: str | None = None, timeout: float = 30.0) -> Path:
    """Stream `url` to `dest` (via dest.part), verify `sha256` if given. DataError on failure."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        # A fresh opener per call picks up the current proxy environment.
        with urllib.request.build_opener().open(url, timeout=timeout) as r, open(part, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr, leave=False) as bar:
                for chunk in iter(lambda: r.read(_BLOCK), b""):
                    f.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as e:
        part.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DataError(f"download from {url} failed: {reason}") from None
    if sha256:
        got = sha256_of(part)
        if got.lower() != sha256.lower():
            part.unlink(missing_ok=True)
            raise DataError(f"download from {url} failed: sha256 mismatch (expected {sha256}, got {got})")
    os.replace(part, dest)
    return dest


def safe_extract(archive: str | Path, target: str | Path) -> Path:
    """Extract a tar archive into `target`, refusing members that would land
    outside it (absolute paths, '..', links) or are not plain files/folders."""
    archive, target = Path(archive), Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                dest = (target / m.name).resolve()
                if not dest.is_relative_to(target):
                    raise DataError(f"{archive}: member {m.name!r} escapes the target folder; refusing to extract")
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"{archive}: member {m.name!r} is a link or special file; refusing to extract")
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{archive}: cannot extract ({e})") from None
    return target


def fetch_and_extract(url: str, dest_dir: str | Path, sha256: str | None = None, timeout: float = 30.0) -> Path:
    """Download the archive at `url`, verify, extract into `dest_dir` atomically,
    delete the archive. Returns `dest_dir`."""
    dest_dir = Path(dest_dir)
    archive = dest_dir.parent / (dest_dir.name + ".tar.gz")
    download(url, archive, sha256, timeout)
    staging = dest_dir.parent / (dest_dir.name + ".extracting")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(archive, staging)
        # Archives with one top folder (rather than files at the top) are unwrapped.
        entries = [p for p in staging.iterdir() if not p.name.startswith(".")]
        inner = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        os.replace(inner, dest_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)
    return dest_dir
