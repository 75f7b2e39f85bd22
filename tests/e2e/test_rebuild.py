"""A trial's record is enough to rebuild its model: `autotiny rebuild record=.../trial.json`."""

import json

import pytest

from autotiny.cli import main

pytestmark = pytest.mark.needs_arm_gcc  # the default emulator=builtin builds the firmware


def test_rebuild_the_best_trial_from_its_record(tmp_path, run_overrides, capsys):
    assert main(["search", *run_overrides, "search.n_trials=1", "search.runner=inline"]) == 0
    record_path = tmp_path / "out" / "best" / "trial.json"
    record = json.loads(record_path.read_text())
    out = tmp_path / "rebuilt"
    data = [o for o in run_overrides if o.startswith(("data.root=", "data.cache_dir="))]
    capsys.readouterr()
    assert main(["rebuild", f"record={record_path}", f"out={out}", *data]) == 0
    printed = capsys.readouterr().out
    assert "(record: " in printed and str(out / "model.tflite") in printed
    again = json.loads((out / "trial.json").read_text())
    assert again["candidate"] == record["candidate"] and again["seed"] == record["seed"]
    # the same architecture: the same blob, hence the same flash and RAM (weights are trained anew)
    for key in ("flash_bytes", "ram_bytes", "macs"):
        assert again["figures"][key]["value"] == record["figures"][key]["value"], key
    assert (out / "model.tflite").read_bytes()[4:8] == b"TFL3"
    # a second rebuild into the same folder refuses to overwrite it
    assert main(["rebuild", f"record={record_path}", f"out={out}", *data]) == 2
    assert "already holds a model.tflite" in capsys.readouterr().err


def test_rebuild_bad_records_are_one_line(tmp_path, capsys):
    no_params = tmp_path / "old.json"
    no_params.write_text(json.dumps({"trial": 3, "val_accuracy": 0.8}))
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    for args, expected in ([[f"record={tmp_path / 'none.json'}"], "no such file"],
                           [[f"record={no_params}"], "has no candidate parameters"],
                           [[f"record={garbled}"], "not a trial record"],
                           [[], "rebuild needs exactly one record="]):
        assert main(["rebuild", *args]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
