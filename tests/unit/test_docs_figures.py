"""The READMEs' measured figures name the bench command that prints them (issue #8): every
bench script the READMEs name exists, and every one listed under README.md's "## Benchmarks"
starts (`--help`) and accepts the options shown there. No figure is asserted: the scripts
print them, the READMEs quote one dated example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = ["README.md", "firmware/README.md", "emulation/README.md"]


def _benchmarks_section() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## Benchmarks\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, "README.md has no '## Benchmarks' section"
    return m.group(1)


def _listed() -> dict[str, set[str]]:
    """bench script -> the options the Benchmarks section's command block passes to it."""
    block = re.search(r"```sh\n(.*?)```", _benchmarks_section(), re.S)
    assert block, "README.md's Benchmarks section has no ```sh block"
    out: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        cmd = line.split("#", 1)[0]
        m = re.search(r"bench/(\w+\.py)(.*)", cmd)
        if m:
            out.setdefault(m.group(1), set()).update(re.findall(r"(--[\w-]+)", m.group(2)))
    return out


def test_benchmarks_section_lists_scripts():
    assert _listed(), "no bench/*.py command in README.md's Benchmarks section"


@pytest.mark.parametrize("readme", READMES)
def test_named_bench_scripts_exist(readme):
    named = set(re.findall(r"bench/(\w+\.py)", (ROOT / readme).read_text()))
    missing = sorted(n for n in named if not (ROOT / "bench" / n).is_file())
    assert not missing, f"{readme} names bench scripts that do not exist: {missing}"


@pytest.mark.parametrize("script", sorted(_listed()))
def test_bench_script_starts(script):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"bench/{script} --help: exit {r.returncode}\n{r.stderr[-2000:]}"
    unknown = sorted(o for o in _listed()[script] if o not in r.stdout)
    assert not unknown, f"README.md runs bench/{script} with {unknown}, which its --help does not list"
