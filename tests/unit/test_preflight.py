"""Pre-flight checks: whole-run problems stop the run before the first trial, in one line, exit 2,
without TensorFlow and without changing anything."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autotiny.config import compose
from autotiny.errors import ConfigError, DataError
from autotiny.preflight import (check_dataset, check_run, check_storage, check_tracking, check_writable,
                                wav_problem)
from tests.fakes import make_fake_speech_commands

REPO = Path(__file__).resolve().parents[2]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg and "\r" not in msg, msg
    return msg


def _study_db(tmp_path: Path) -> Path:
    """Where the default storage of `run_overrides` (search.study_name=t) keeps the study."""
    return tmp_path / "studies" / "t.db"


def _garble(path: Path, n: int = 4096) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(n))
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the study store ------------------------------------------------------------------------------

def test_garbled_study_db_is_refused_and_left_alone(tmp_path, run_overrides):
    db = _garble(_study_db(tmp_path))
    before = _digest(db)
    with pytest.raises(ConfigError) as err:
        check_run(compose(run_overrides))
    msg = _one_line(err)
    assert msg.startswith(f"search.storage=sqlite:///{db}: ")
    assert "file is not a database" in msg and "search.study_name" in msg and "nothing was changed" in msg
    assert _digest(db) == before
    assert not (tmp_path / "out").exists()  # stopped at the store, before anything else


def test_truncated_optuna_db_is_refused_and_left_alone(tmp_path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    study = optuna.create_study(study_name="s", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    del study
    check_storage(url)  # healthy: passes
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    before = _digest(db)
    with pytest.raises(ConfigError) as err:
        check_storage(url)
    msg = _one_line(err)
    assert msg.startswith(f"search.storage={url}: ") and "malformed" in msg
    assert _digest(db) == before


def test_sqlite_db_that_is_not_an_optuna_one_is_not_migrated(tmp_path):
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.commit()
    con.close()
    before = _digest(db)
    with pytest.raises(ConfigError) as err:
        check_storage(f"sqlite:///{db}")
    msg = _one_line(err)
    assert str(db) in msg and "not a study database" in msg and "notes" in msg
    assert _digest(db) == before


def test_new_and_empty_sqlite_files_are_fine(tmp_path):
    check_storage(f"sqlite:///{tmp_path / 'new' / 'study.db'}")
    assert not (tmp_path / "new" / "study.db").exists()  # the folder may be made, the database is not
    empty = tmp_path / "empty.db"
    empty.touch()
    check_storage(f"sqlite:///{empty}")
    check_storage("sqlite://")  # in memory


def test_unknown_dialect_is_one_line(tmp_path, run_overrides):
    with pytest.raises(ConfigError) as err:
        check_run(compose([*run_overrides, "search.storage=nosuchdialect://x"]))
    msg = _one_line(err)
    assert msg.startswith("search.storage=nosuchdialect://x: ") and "sqlite:///" in msg


def test_malformed_url_is_one_line():
    with pytest.raises(ConfigError) as err:
        check_storage("not a url")
    assert _one_line(err).startswith("search.storage=not a url: not a database URL")


def test_postgres_without_driver_or_server_is_one_line():
    url = f"postgresql://u:secret@127.0.0.1:{_closed_port()}/db"
    with pytest.raises(ConfigError) as err:
        check_storage(url)
    msg = _one_line(err)
    assert msg.startswith("search.storage=postgresql://u:***@127.0.0.1:")  # password hidden
    assert "secret" not in msg
    assert "pip install" in msg or "cannot connect" in msg


# ---- the MLflow store -------------------------------------------------------------------------------

def test_garbled_mlflow_db_names_tracking_uri(tmp_path, run_overrides):
    db = _garble(tmp_path / "mlruns" / "mlflow.db")
    before = _digest(db)
    with pytest.raises(ConfigError) as err:
        check_run(compose(run_overrides))
    msg = _one_line(err)
    assert msg.startswith(f"tracking.uri=sqlite:///{db}: ") and "tracking.enabled=false" in msg
    assert _digest(db) == before
    cfg = compose([*run_overrides, "tracking.enabled=false"])
    check_run(cfg)  # not used: not checked


def test_an_optuna_db_is_not_an_mlflow_db(tmp_path):
    from autotiny.config import TrackingSettings

    db = tmp_path / "x.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE studies (x TEXT)")
    con.commit()
    con.close()
    settings = TrackingSettings(uri=f"sqlite:///{db}", artifact_dir=str(tmp_path / "a"), experiment="e")
    with pytest.raises(ConfigError) as err:
        check_tracking(settings)
    assert "not an MLflow tracking database" in _one_line(err)


def test_mlflow_server_uris(tmp_path):
    from autotiny.config import TrackingSettings

    def settings(uri: str) -> TrackingSettings:
        return TrackingSettings(uri=uri, artifact_dir=str(tmp_path / "a"), experiment="e")

    port = _closed_port()
    with pytest.raises(ConfigError) as err:
        check_tracking(settings(f"http://127.0.0.1:{port}"))
    msg = _one_line(err)
    assert msg.startswith(f"tracking.uri=http://127.0.0.1:{port}: no MLflow server answers")
    with pytest.raises(ConfigError):
        check_tracking(settings("http://:5000"))
    check_tracking(settings("https://mlflow.example.invalid"))  # a remote host is not contacted
    check_tracking(settings(f"file://{tmp_path / 'mlruns'}"))
    assert (tmp_path / "mlruns").is_dir()
    with pytest.raises(ConfigError) as err:
        check_tracking(settings(str(_garble(tmp_path / "f.txt")) + "/mlruns"))
    assert _one_line(err).startswith(f"tracking.uri={tmp_path / 'f.txt' / 'mlruns'}: cannot create")
    uri = f"file://{tmp_path / 'f.txt' / 'mlruns'}"
    with pytest.raises(ConfigError) as err:
        check_tracking(settings(uri))
    assert _one_line(err).startswith(f"tracking.uri={uri}: cannot create or write the folder")


# ---- folders ---------------------------------------------------------------------------------------

def test_output_dir_under_a_file_names_the_key(tmp_path, run_overrides):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as err:
        check_run(compose([*run_overrides, f"search.output_dir={blocker / 'out'}"]))
    msg = _one_line(err)
    assert msg.startswith(f"search.output_dir={blocker / 'out'}: cannot create or write")
    assert f"{blocker} is a file" in msg
    assert blocker.read_text() == "not a folder"


def test_check_writable_probes_and_cleans_up(tmp_path):
    d = check_writable(tmp_path / "a" / "b", "data.cache_dir")
    assert d.is_dir() and list(d.iterdir()) == []
    f = tmp_path / "plain"
    f.write_text("x")
    with pytest.raises(ConfigError) as err:
        check_writable(f, "data.cache_dir")
    assert _one_line(err).startswith(f"data.cache_dir={f}: ") and "file, not a folder" in str(err.value)


def test_cache_dir_and_studies_dir_are_checked(tmp_path, run_overrides):
    blocker = tmp_path / "file.txt"
    blocker.write_text("")
    for key in ("data.cache_dir", "search.studies_dir"):
        with pytest.raises(ConfigError) as err:
            check_run(compose([*run_overrides, f"{key}={blocker / 'x'}"]))
        assert _one_line(err).startswith(f"{key}=")


# ---- data ------------------------------------------------------------------------------------------

@pytest.fixture()
def speech_copy(tmp_path) -> Path:
    """A fresh small fake tree this test may damage (fake_speech is shared by the session)."""
    return make_fake_speech_commands(tmp_path / "speech" / "speech_commands_v0.02", per_class=4,
                                     layout="twelve", n_speakers=10)


def _dataset(root: Path):
    from autotiny.data.speech_commands import SpeechCommands

    return SpeechCommands(root)


def test_good_tree_passes_and_dataset_is_returned(tmp_path, run_overrides, fake_speech):
    ds = check_run(compose(run_overrides))
    assert ds.root == fake_speech.resolve()
    files = ds.files()
    assert len(files) == len(set(files)) == check_dataset(ds)
    assert {c.path for c in ds.clips("all")} <= set(files)
    assert any(f.parent.name == "_background_noise_" for f in files)
    for key in ("out", "cache", "studies"):
        assert (tmp_path / key).is_dir() and list((tmp_path / key).iterdir()) == []


def test_two_corrupt_wavs_are_both_listed_in_one_line(speech_copy):
    ds = _dataset(speech_copy)
    a, b = sorted(ds.files())[3], sorted(ds.files())[20]
    a.write_bytes(b"garbage, not RIFF" * 10)
    b.write_bytes(b.read_bytes()[:30])  # truncated header
    with pytest.raises(DataError) as err:
        check_dataset(ds)
    msg = _one_line(err)
    assert msg.startswith("data: 2 unreadable wav files: ")
    assert f"{a} (file does not start with RIFF id)" in msg and f"{b} (" in msg


def test_wrong_format_and_truncated_audio_are_caught(tmp_path):
    import wave

    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0" * 400)
    assert "2 channel(s)" in wav_problem(stereo)
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    assert wav_problem(empty) == "no audio frames"
    good = tmp_path / "good.wav"
    with wave.open(str(good), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\1\0" * 16000)
    assert wav_problem(good) is None
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:10000])
    assert wav_problem(cut).startswith("truncated")
    assert wav_problem(tmp_path / "missing.wav") == "No such file or directory"


def test_many_bad_files_are_summarised_and_listed_in_a_file(tmp_path, speech_copy):
    ds = _dataset(speech_copy)
    bad = [f for f in ds.files() if f.parent.name != "_background_noise_"][:8]
    for f in bad:
        f.write_bytes(b"")
    with pytest.raises(DataError) as err:
        check_dataset(ds, report_dir=tmp_path / "out")
    report = tmp_path / "out" / "bad_wav_files.txt"
    msg = _one_line(err)
    assert f"{sorted(bad)[0]} (empty file)" in msg
    assert msg.startswith("data: 8 unreadable wav files: ") and f"and 3 more (all listed in {report})" in msg
    assert [line.split("\t")[0] for line in report.read_text().splitlines()] == [str(f) for f in sorted(bad)]


def test_bad_noise_file_and_bad_clips_are_listed_together(tmp_path, run_overrides, speech_copy):
    # A noise file's header is read while the dataset is built: still every bad file is listed.
    noise = sorted((speech_copy / "_background_noise_").glob("*.wav"))[0]
    clip = sorted((speech_copy / "yes").glob("*.wav"))[0]
    noise.write_bytes(b"RIFF....WAVEjunk")
    clip.write_bytes(b"\0" * 100)
    with pytest.raises(DataError) as err:
        check_run(compose([*run_overrides, f"data.root={speech_copy}"]))
    msg = _one_line(err)
    assert msg.startswith("data: 2 unreadable wav files: ") and str(noise) in msg and str(clip) in msg


# ---- end to end ------------------------------------------------------------------------------------

def test_cli_stops_on_a_garbled_study_db_before_tensorflow(tmp_path, run_overrides):
    db = _garble(_study_db(tmp_path))
    before = _digest(db)
    code = ("import sys, autotiny.cli as c; rc = c.main(sys.argv[1:]); "
            "print('tensorflow' in sys.modules); sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    proc = subprocess.run([sys.executable, "-c", code, "search", *run_overrides, "search.n_trials=1"],
                          cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"  # TensorFlow never imported
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"autotiny: error: search.storage=sqlite:///{db}: ")
    assert _digest(db) == before
