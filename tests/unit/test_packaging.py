"""A non-editable install must carry conf/, search_spaces/, firmware/ and emulation/ (outside the package dir)."""

import subprocess
import sys
import zipfile


def test_wheel_ships_config_and_search_spaces(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(root)], check=True, timeout=300, capture_output=True)
    wheel = next(tmp_path.glob("autotiny-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(root / "conf").as_posix() for p in (root / "conf").rglob("*.yaml")}
    assert {f"autotiny/conf/{e}" for e in expected} <= names
    assert "autotiny/search_spaces/kws.yaml" in names
    assert "autotiny/conf/board/stm32f746.yaml" in names
    for folder in ("firmware", "emulation"):  # built / read at run time
        files = {p.relative_to(root / folder).as_posix() for p in (root / folder).rglob("*")
                 if p.is_file() and p.suffix in (".c", ".h", ".ld", ".yaml")}
        assert files and {f"autotiny/assets/{folder}/{f}" for f in files} <= names, folder
