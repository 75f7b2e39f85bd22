"""Bring your own data: folders this test writes, read through the CLI as a user runs it.  Every bad
file is named, with why, in one line, and the command exits 2; good folders split by group."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from autotiny.cli import main


def _wav(path: Path, samples: int, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.sin(np.arange(samples) / 5) * 8000).astype("<i2").tobytes())


def _png(path: Path, size=(8, 8), value: int = 100) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, np.uint8)).save(path)


def _csv(path: Path, rows: int, channels: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(rows).normal(size=(rows, channels))
    header = ",".join(f"c{i}" for i in range(channels))
    np.savetxt(path, data, delimiter=",", header=header, comments="")


def _run(tmp_path: Path, capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["search", *args, f"data.cache_dir={tmp_path / 'cache'}", f"search.studies_dir={tmp_path / 'st'}",
                 f"search.output_dir={tmp_path / 'out'}", f"tracking.uri=sqlite:///{tmp_path / 'ml' / 'm.db'}",
                 f"tracking.artifact_dir={tmp_path / 'ml' / 'a'}", "search.n_trials=1"])
    return code, capsys.readouterr().err.strip().splitlines()


def test_images_bad_files_in_one_line(tmp_path, capsys):
    root = tmp_path / "pics"
    for i in range(3):
        _png(root / "absent" / f"{i}.png")
        _png(root / "present" / f"{i}.png")
    _png(root / "present" / "big.png", size=(12, 8))
    (root / "absent" / "broken.png").write_bytes(b"not a png")
    (root / "absent" / "notes.txt").write_text("hello")
    (root / "maybe").mkdir()
    code, err = _run(tmp_path, capsys, "task=object_present", f"data.root={root}")
    assert code == 2 and len(err) == 1, err
    line = err[0]
    for path, why in [(root / "absent" / "broken.png", "unreadable image"),
                      (root / "present" / "big.png", "wrong size 12x8: the others are 8x8"),
                      (root / "absent" / "notes.txt", "not a .png file"),
                      (root / "maybe", "a folder that is not one of task.classes")]:
        assert f"{path} ({why}" in line, (path, line)


def test_images_empty_and_missing_class(tmp_path, capsys):
    root = tmp_path / "pics"
    _png(root / "cat" / "a.png")
    (root / "dog").mkdir()
    code, err = _run(tmp_path, capsys, "task=images", f"data.root={root}", "task.classes=[cat,dog,bird]")
    assert code == 2 and len(err) == 1
    assert f"{root / 'dog'} (empty class: no .png files)" in err[0]
    assert f"{root / 'bird'} (missing: every class" in err[0]


def test_folder_tasks_need_their_classes(tmp_path, capsys):
    code, err = _run(tmp_path, capsys, "task=images", f"data.root={tmp_path}")
    assert code == 2 and err == ["autotiny: error: task.classes has no value: set it on the command line (task.classes=...)"]
    code, err = _run(tmp_path, capsys, "task=object_present")
    assert code == 2 and len(err) == 1 and "data.root is not set" in err[0]
    code, err = _run(tmp_path, capsys, "task=activity", f"data.root={tmp_path}")
    assert code == 2 and len(err) == 1 and "task.dataset=watch reads the WATCH recordings" in err[0]


@pytest.mark.parametrize("rate, samples, why", [(8000, 8000, "8000 Hz"),  # wrong rate
                                                (16000, 24000, "wrong length: 24000 samples, longer than the 1 s clip")])
def test_audio_bad_clip_is_named(tmp_path, capsys, rate, samples, why):
    root = tmp_path / "clips"
    for word in ("yes", "no", "other"):
        for i in range(3):
            _wav(root / word / f"{i}.wav", 12000)
    _wav(root / "no" / "odd.wav", samples, rate)
    code, err = _run(tmp_path, capsys, "task=audio", f"data.root={root}", "task.classes=[yes,no,other]")
    assert code == 2 and len(err) == 1
    assert str(root / "no" / "odd.wav") in err[0] and why in err[0]


def test_series_bad_recordings_in_one_line(tmp_path, capsys):
    root = tmp_path / "imu"
    for cls in ("walk", "sit"):
        for i in range(3):
            _csv(root / cls / f"{i}.csv", 300, 3)
    _csv(root / "walk" / "two_axes.csv", 300, 2)
    _csv(root / "sit" / "short.csv", 40, 3)
    np.save(root / "sit" / "nan.npy", np.full((300, 3), np.nan))
    (root / "walk" / "junk.csv").write_text("1,2,3\n4,five,6\n")
    code, err = _run(tmp_path, capsys, "task=series", f"data.root={root}", "task.classes=[walk,sit]",
                     "task.channels=3")
    assert code == 2 and len(err) == 1
    for name, why in [("walk/two_axes.csv", "wrong shape (300, 2)"), ("sit/short.csv", "wrong length: 40 time steps"),
                      ("sit/nan.npy", "holds NaN"), ("walk/junk.csv", "unreadable")]:
        assert f"{root / name} ({why}" in err[0], (name, err[0])


def test_metadata_must_list_every_file(tmp_path, capsys):
    root = tmp_path / "imu"
    for cls in ("walk", "sit"):
        for i in range(3):
            _csv(root / cls / f"{i}.csv", 300, 3)
    rows = [f"{c}/{i}.csv,s{i}" for c in ("walk", "sit") for i in range(3) if (c, i) != ("sit", 2)]
    (root / "metadata.csv").write_text("file,subject\n" + "\n".join(rows + ["sit/9.csv,s9"]) + "\n")
    code, err = _run(tmp_path, capsys, "task=series", f"data.root={root}", "task.classes=[walk,sit]",
                     "task.channels=3")
    assert code == 2 and len(err) == 1
    assert f"{root / 'sit' / '2.csv'} (not listed in metadata.csv)" in err[0]
    assert "lists sit/9.csv, which is not a data file" in err[0]


def test_groups_stay_on_one_side(tmp_path):
    from autotiny.data.folder import AudioFolder
    from autotiny.data.images import folder as image_folder

    root = tmp_path / "clips"
    rows = ["file,speaker"]
    for word in ("yes", "no"):
        for spk in range(6):
            for take in range(2):
                _wav(root / word / f"{spk}_{take}.wav", 8000 + 1000 * take)
                rows.append(f"{word}/{spk}_{take}.wav,speaker{spk}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    audio = AudioFolder(root, ["yes", "no"], 16000, 16000, val_pct=20, test_pct=20, seed=0)
    sides = [audio.groups(s) for s in ("train", "val", "test")]
    assert [len(s) for s in sides] == [4, 1, 1] and set().union(*sides) == {f"speaker{i}" for i in range(6)}
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    x, y = audio.load("test")
    assert x.shape[1] == 16000 and (x[:, 12000:] == 0).all() and sorted(set(y.tolist())) == [0, 1]

    pics = tmp_path / "pics"
    for cls, value in (("dark", 20), ("light", 230)):
        for i in range(10):
            _png(pics / cls / f"{i}.png", value=value)
    ds = image_folder(pics, ["dark", "light"], val_pct=10, test_pct=10, seed=0)
    images, labels = ds.load("train")
    assert images.shape[1:] == (8, 8) and set(labels.tolist()) <= {0, 1}
    assert (images[labels == 0] == 20).all() and (images[labels == 1] == 230).all()
    assert sum(len(ds.load(s)[1]) for s in ("train", "val", "test")) == 20
