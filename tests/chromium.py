"""Headless Chromium for the browser tests (Debian's `chromium`; the needs_chromium marker skips without it).

As root it needs --no-sandbox; every run gets a fresh profile (--user-data-dir), so runs never share state.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium")


def chromium(url: str, profile: Path, *extra: str, budget_ms: int) -> subprocess.CompletedProcess:
    """Load `url` headless with `budget_ms` of virtual time; `extra` flags, e.g. --dump-dom or --screenshot=PNG."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1600,900",
         f"--virtual-time-budget={budget_ms}", *extra, url],
        capture_output=True, text=True, timeout=120)


def in_fresh_profile(url: str, workdir: Path, *extra: str, budget_ms: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(dir=workdir) as profile:
        return chromium(url, Path(profile), *extra, budget_ms=budget_ms)


def console_messages(stderr: str) -> list[str]:
    """The page's console messages (errors, CSP refusals, logs) from a run with --enable-logging=stderr --v=0."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]
