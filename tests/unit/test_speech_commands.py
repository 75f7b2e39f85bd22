"""Speech Commands loader and feature cache, on fake trees (always) and real data (if set)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from autotiny.data import cache as cache_mod
from autotiny.data.cache import cached_features
from autotiny.data.speech_commands import (
    CLASSES,
    CLIP_SAMPLES,
    SILENCE_LABEL,
    SPLITS,
    UNKNOWN_LABEL,
    SpeechCommands,
    resolve_root,
    speaker_of,
)
from autotiny.errors import DataError
from autotiny.frontends.mfcc import MfccParams, output_shape
from tests.fakes import make_fake_speech_commands, write_wav


@pytest.fixture(scope="module")
def twelve(tmp_path_factory) -> Path:
    return make_fake_speech_commands(tmp_path_factory.mktemp("sc12"), per_class=8, layout="twelve")


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    return make_fake_speech_commands(tmp_path_factory.mktemp("scfull"), per_class=8, layout="full")


@pytest.mark.parametrize("layout", ["twelve", "full"])
def test_both_layouts_load(layout, twelve, full):
    ds = SpeechCommands(twelve if layout == "twelve" else full)
    assert ds.layout == layout
    for split in SPLITS:
        x, y = ds.load(split)
        assert x.dtype == np.float32 and x.shape == (len(ds.clips(split)), CLIP_SAMPLES)
        assert y.dtype == np.int64 and len(y) == len(x) > 0  # all three splits non-empty
        assert np.abs(x).max() <= 1.0
    _, y = ds.load("train")
    assert set(y.tolist()) == set(range(len(CLASSES)))


def test_splits_are_speaker_disjoint_and_stable(twelve):
    a, b = SpeechCommands(twelve), SpeechCommands(twelve, seed=7)
    speakers = {s: {c.speaker for c in a.clips(s) if c.speaker} for s in SPLITS}
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    for s in SPLITS:
        assert a.clips(s) == SpeechCommands(twelve).clips(s)
        assert a.clips(s) == b.clips(s)  # the seed never moves clips between splits
    paths = [c.path for s in SPLITS for c in a.clips(s)]
    assert len(paths) == len(set(paths)) == len(list(twelve.glob("[!_]*/*.wav")) + list(twelve.glob("_[su]*/*.wav")))


def test_changing_val_pct_keeps_test_set(twelve):
    assert SpeechCommands(twelve, val_pct=10).clips("test") == SpeechCommands(twelve, val_pct=30).clips("test")


def test_unknown_file_names_give_speaker():
    assert speaker_of("bed_0a1b2c3d_nohash_2.wav") == "0a1b2c3d"
    assert speaker_of("0a1b2c3d_nohash_0.wav") == "0a1b2c3d"
    assert speaker_of("1024.wav") == ""


def test_noise_blocks_never_mix_splits(full):
    ds = SpeechCommands(full)
    by_file: dict[Path, list] = {}
    for b in ds.noise_blocks():
        by_file.setdefault(b.path, []).append(b)
    assert len(by_file) == 3
    for blocks in by_file.values():
        assert {b.split for b in blocks} == set(SPLITS)  # at least one block per split
        blocks.sort(key=lambda b: b.start)
        assert all(p.stop <= q.start for p, q in zip(blocks, blocks[1:]))  # no overlap
    for s in SPLITS:
        segs = ds.noise_segments(s)
        assert segs and all(seg.dtype == np.float32 for seg in segs)
        assert sum(map(len, segs)) == sum(b.stop - b.start for b in ds.noise_blocks(s))
    # Generated silence lies wholly inside noise blocks of its own split.
    for s in SPLITS:
        for c in ds.clips(s):
            if c.offset is not None:
                assert any(
                    b.path == c.path and b.start <= c.offset and c.offset + CLIP_SAMPLES <= b.stop
                    for b in ds.noise_blocks(s)
                )


def test_full_layout_balances_unknown_and_silence(full):
    ds = SpeechCommands(full, seed=1)
    train = ds.clips("train")
    counts = np.bincount([c.label for c in train], minlength=12)
    avg = round(counts[:10].sum() / 10)
    assert counts[UNKNOWN_LABEL] == avg  # 4 fake words x 8 clips: more than needed, subsampled
    assert counts[SILENCE_LABEL] == avg
    sil = [c for c in train if c.label == SILENCE_LABEL]
    assert all(c.offset is not None and 0.0 <= c.gain <= 1.0 for c in sil)
    assert sil == [c for c in SpeechCommands(full, seed=1).clips("train") if c.label == SILENCE_LABEL]
    assert sil != [c for c in SpeechCommands(full, seed=2).clips("train") if c.label == SILENCE_LABEL]
    x, y = ds.load("train")
    assert np.abs(x[y == SILENCE_LABEL]).max() > 0


def test_max_per_class_is_a_deterministic_slice(twelve):
    small = SpeechCommands(twelve, max_per_class=2)
    every = SpeechCommands(twelve)
    for s in SPLITS:
        labels = [c.label for c in small.clips(s)]
        assert max(np.bincount(labels)) <= 2
        assert set(small.clips(s)) <= set(every.clips(s))
        assert small.clips(s) == SpeechCommands(twelve, max_per_class=2).clips(s)
    assert len(small.clips("train")) == 2 * 12


def test_bad_roots_raise_data_error(tmp_path, twelve):
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match=f"{missing}.*expected Speech Commands"):
        SpeechCommands(missing)
    with pytest.raises(DataError, match="no folder down, go.*expected Speech Commands"):
        SpeechCommands(tmp_path)
    odd = make_fake_speech_commands(tmp_path / "odd", per_class=1, layout="twelve")
    (odd / "Extra Stuff").mkdir()
    with pytest.raises(DataError, match="unexpected folder 'Extra Stuff'.*12 folders"):
        SpeechCommands(odd)
    with pytest.raises(DataError, match=f"data.root={missing} does not exist"):
        resolve_root(missing)


def test_unreadable_wav_names_the_file(tmp_path):
    root = make_fake_speech_commands(tmp_path / "sc", per_class=1, layout="twelve")
    bad = next((root / "yes").glob("*.wav"))
    with wave.open(str(bad), "wb") as w:  # stereo: not what the loader accepts
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0" * 400)
    ds = SpeechCommands(root)
    split = next(c.split for c in ds.clips("all") if c.path.name == bad.name and c.path.parent.name == "yes")
    with pytest.raises(DataError, match=f"{bad.name}: expected 16-bit PCM mono"):
        ds.load(split)
    bad.write_bytes(b"not a wav")
    with pytest.raises(DataError, match=f"{bad.name}: not a readable"):
        ds.load(split)


def test_resolve_root_prefers_explicit_then_env(tmp_path, monkeypatch, twelve):
    assert resolve_root(twelve) == twelve
    (tmp_path / "speech_commands_v0.02").mkdir()
    monkeypatch.setenv("AUTOTINY_DATA", str(tmp_path))
    assert resolve_root(None, download_dir=tmp_path / "dl") == tmp_path / "speech_commands_v0.02"


def test_feature_cache_hits_disk(tmp_path, twelve, monkeypatch):
    ds = SpeechCommands(twelve)
    p = MfccParams()
    f1, y1 = cached_features(ds, "train", "mfcc", p, tmp_path)
    assert f1.shape == (len(ds.clips("train")), *output_shape(p)) and f1.dtype == np.float32
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no stray .tmp files

    def no_recompute(*a, **k):  # a hit must neither read wavs nor run the front-end
        raise AssertionError("cache miss: recomputed")

    monkeypatch.setattr(SpeechCommands, "load", no_recompute)
    f2, y2 = cached_features(SpeechCommands(twelve), "train", "mfcc", p, tmp_path)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(y1, y2)
    monkeypatch.undo()
    # Other params, split or dataset settings are other entries.
    cached_features(ds, "train", "mfcc", {"n_mfcc": 13}, tmp_path)
    cached_features(ds, "val", "mfcc", p, tmp_path)
    cached_features(SpeechCommands(twelve, max_per_class=1), "train", "mfcc", p, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 4
    assert cache_mod.cache_key(ds, "train", "mfcc", p) != cache_mod.cache_key(ds, "test", "mfcc", p)


def test_damaged_cache_file_is_recomputed(tmp_path, twelve):
    ds = SpeechCommands(twelve, max_per_class=1)
    f1, _ = cached_features(ds, "test", "mfcc", MfccParams(), tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"half a file")
    f2, _ = cached_features(ds, "test", "mfcc", MfccParams(), tmp_path)
    np.testing.assert_array_equal(f1, f2)


def test_short_wavs_are_padded(tmp_path):
    root = make_fake_speech_commands(tmp_path / "sc", per_class=1, layout="twelve")
    for f in root.glob("yes/*.wav"):
        write_wav(f, np.full(8000, 0.25))
    ds = SpeechCommands(root)
    x, y = ds.load("all")
    row = x[list(y).index(CLASSES.index("yes"))]
    assert np.allclose(row[:8000], 0.25, atol=1e-4) and not row[8000:].any()


def test_real_shared_clips(data_root):
    ds = SpeechCommands(data_root / "speech_commands_v0.02")
    assert ds.layout == "twelve"
    sizes = {s: len(ds.clips(s)) for s in SPLITS}
    assert sum(sizes.values()) == 3581 and min(sizes.values()) > 200
    spk = {s: {c.speaker for c in ds.clips(s) if c.speaker} for s in SPLITS}
    assert not (spk["train"] & spk["test"]) and not (spk["train"] & spk["val"]) and not (spk["val"] & spk["test"])
    assert {b.split for b in ds.noise_blocks()} == set(SPLITS) and len(ds.noise_blocks()) == 60
