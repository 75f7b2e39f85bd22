"""What a user sees when `autotiny measure` gets a bad model path: one line naming the file, exit 2."""

import pytest

from autotiny.cli import main


def test_measure_a_folder_says_so(tmp_path, capsys):
    assert main(["measure", f"model={tmp_path}", "emulator=estimate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"autotiny: error: model={tmp_path}: is a folder; give the path of an int8 .tflite file"


@pytest.mark.parametrize("emulator", ["estimate", pytest.param("builtin", marks=pytest.mark.needs_arm_gcc)])
def test_measure_errors_name_the_file(tmp_path, capsys, emulator):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"junk" * 10)
    # TFL3 identifier but garbage after it: the flatbuffer parser fails deep inside
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x10\x00\x00\x00TFL3" + bytes(range(256)) * 4)
    for path in (junk, corrupt):
        assert main(["measure", f"model={path}", f"emulator={emulator}"]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and "<bytes>" not in err and err.count("\n") == 1, err
