"""Many workers on one study (autotiny.cluster) on a real PostgreSQL: every trial accounted for
once, a worker killed mid-trial costs nothing, a killed sweep continues when run again; workers
started through Hydra's submitit launcher (local, and a one-node SLURM) do the same; nothing listens beyond loopback.

Trials are cheap (tests/cheap_trials.py: the search as a user runs it, each trial's work a short
sleep), so these tests are about the study machinery, not training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from autotiny.cli import main
from tests.cheap_trials import environment
from tests.sockets import listening, not_loopback

N_TRIALS = 12  # the accounting test: 4 workers; the kill tests run 2 (process start-up is most of their time)


@pytest.fixture()
def sweep(tmp_path, fake_speech, postgres):
    """The command of a 4-worker sweep on a fresh database, its environment and the study's storage."""
    name = f"t{os.getpid()}_{tmp_path.name}".lower().replace("-", "_")[-40:]
    storage = postgres.create_database(name)
    tracking = postgres.create_database(name + "_ml")
    overrides = [f"data.root={fake_speech}", f"data.cache_dir={tmp_path / 'cache'}", "emulator=estimate",
                 f"search.storage={storage}", f"search.output_dir={tmp_path / 'out'}", "search.study_name=t",
                 f"tracking.uri={tracking}", f"tracking.artifact_dir={tmp_path / 'artifacts'}",
                 "search.heartbeat_s=1", "search.grace_s=3", "search.timeout_s=null"]
    return {"cmd": lambda workers, n: [sys.executable, "-m", "autotiny.cli", "search", *overrides,
                                       f"search.workers={workers}", f"search.n_trials={n}"],
            "storage": storage, "tracking": tracking, "tmp": tmp_path}


def _run(cmd, env, timeout=600, cwd=None):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


def _study(storage):
    return optuna.load_study(study_name="t", storage=storage)


def _check_accounting(study, n: int) -> list:
    """The study holds exactly n complete trials; nothing is left running or queued; a dead
    trial is retried once (by exactly one trial), any other trial is a complete one or a surplus."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] == n, [
        (t.number, t.state.name, t.user_attrs.get("state"), t.user_attrs.get("retry_of"),
         t.user_attrs.get("owner", {}).get("pid")) for t in trials]
    assert states[TrialState.RUNNING] == 0 and states[TrialState.WAITING] == 0
    retry_of = [t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs]
    assert len(retry_of) == len(set(retry_of)), f"a trial was queued again twice: {retry_of}"
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert sorted(t.number for t in failed) == sorted(retry_of)
    for t in trials:
        assert t.state in (TrialState.COMPLETE, TrialState.FAIL) or t.user_attrs.get("surplus"), t
    return failed


def _check_mlflow(study, tracking):
    """Every trial that ran has its MLflow run in the controller's experiment, under the study's
    parent run, tagged with the study and its own trial number; nothing went to Default."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    experiment = study.user_attrs["mlflow_experiment_id"]
    parent = study.user_attrs["mlflow_parent_run_id"]
    assert client.search_runs(["0"]) == []  # Default
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        if t.state == TrialState.FAIL and "mlflow_run_id" not in t.user_attrs:
            continue  # killed before its run was created
        run = client.get_run(t.user_attrs["mlflow_run_id"])
        assert run.info.experiment_id == experiment
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert (run.data.tags["autotiny.study"], run.data.tags["autotiny.trial"]) == ("t", str(t.number))
        assert run.info.status == ("FINISHED" if t.state == TrialState.COMPLETE else "KILLED")
    assert client.get_run(parent).info.status == "FINISHED"


def _loopback_only(pids: list[int], ports=(), names=()) -> None:
    """Every socket these processes (and their children) listen on is on loopback; the ones expected are there."""
    found = listening(pids)
    assert not_loopback(found) == [], found
    assert set(ports) <= {port for *_, port in found} and set(names) <= {name for _, name, *_ in found}, found


def _held_at_first_trial(cmd, env, meet, n: int, check) -> tuple[int, str]:
    """Run a sweep whose n workers each wait in their first trial (AUTOTINY_CHEAP_MEET=meet:n+1) until
    `check()` has looked at the running processes, then let them go on; the exit code and output."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: len(list(meet.iterdir())) >= n or proc.poll() is not None, f"{n} workers in a trial")
        if proc.poll() is None:
            check(proc)
        (meet / "test").touch()  # the n+1th: everyone goes on
        out = proc.communicate(timeout=600)[0]
    finally:
        proc.kill()
    return proc.returncode, out


def _wait_for(predicate, what: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.needs_postgres
def test_four_workers_share_one_study_and_every_trial_counts_once(sweep):
    meet = sweep["tmp"] / "meet"
    meet.mkdir()
    # each worker's first trial waits until all four are in a trial: they ran at the same time
    env = environment(sweep["tmp"] / "site", AUTOTINY_CHEAP_MEET=f"{meet}:4")
    code, out = _run(sweep["cmd"](4, N_TRIALS), env)
    assert code == 0, out
    assert len(list(meet.iterdir())) == 4
    study = _study(sweep["storage"])
    assert _check_accounting(study, N_TRIALS) == []
    owners = {t.user_attrs["owner"]["pid"] for t in study.trials if t.state == TrialState.COMPLETE}
    assert len(owners) == 4
    _check_mlflow(study, sweep["tracking"])
    assert len((sweep["tmp"] / "out" / "pareto.csv").read_text().splitlines()) > 1
    assert f"study t: {N_TRIALS} feasible" in out


@pytest.mark.needs_postgres
def test_the_controller_runs_the_repeats_once_and_a_rerun_only_the_missing(sweep):
    """search.repeats with workers: after the workers, the controller (not a worker) trains the top
    candidates again with other seeds; the same command again runs only the repeats the study lacks."""
    from autotiny import repeats

    env = environment(sweep["tmp"] / "site")
    cmd = [*sweep["cmd"](2, 3), "search.repeats=1", "search.repeat_top=2"]
    code, out = _run(cmd, env)
    assert code == 0, out
    study = _study(sweep["storage"])
    stored = study.user_attrs[repeats.ATTR]
    ran = [line for line in out.splitlines() if "[repeat]" in line]
    # repeat_top=2 caps it; how many feasible Pareto candidates three trials leave (1 or 2) is up to the trials
    assert 1 <= len(stored) == len(ran) <= 2 and all(line.startswith("[repeat] trial") for line in ran), out  # no w<i>|
    assert "n_seeds" in (sweep["tmp"] / "out" / "pareto.csv").read_text().splitlines()[0]
    *kept, dropped = sorted(stored)
    study.set_user_attr(repeats.ATTR, {k: stored[k] for k in kept})  # as if stopped before the last repeat
    code, out = _run(cmd, env)
    assert code == 0, out
    assert [line.split()[2] for line in out.splitlines() if "[repeat]" in line] == [dropped]
    assert _study(sweep["storage"]).user_attrs[repeats.ATTR] == stored
    _check_accounting(study, 3)


@pytest.mark.needs_postgres
def test_a_worker_killed_mid_trial_has_its_trial_failed_and_retried(sweep, postgres):
    hang = sweep["tmp"] / "hang"
    hang.mkdir()
    env = environment(sweep["tmp"] / "site", AUTOTINY_CHEAP_HANG=str(hang), AUTOTINY_CHEAP_SECONDS="0.5")
    proc = subprocess.Popen(sweep["cmd"](2, 6), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        _wait_for(lambda: (hang / "hang").exists() and (hang / "hang").read_text(), "a trial to hang")
        victim = int((hang / "hang").read_text())
        _loopback_only([proc.pid, postgres.pid], ports=[postgres.port])  # controller, workers, database
        os.kill(victim, signal.SIGKILL)
        out = proc.communicate(timeout=600)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    study = _study(sweep["storage"])
    failed = _check_accounting(study, 6)
    assert len(failed) == 1 and failed[0].user_attrs["owner"]["pid"] == victim
    dead = failed[0]
    retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == dead.number)
    assert retry.state == TrialState.COMPLETE and retry.params == dead.params
    assert retry.user_attrs["owner"]["pid"] != victim
    _check_mlflow(study, sweep["tracking"])
    assert "killed by SIGKILL" in out


@pytest.mark.needs_postgres
def test_a_killed_sweep_continues_when_the_same_command_runs_again(sweep):
    hang = sweep["tmp"] / "hang"
    hang.mkdir()
    env = environment(sweep["tmp"] / "site", AUTOTINY_CHEAP_HANG=str(hang), AUTOTINY_CHEAP_SECONDS="0.5")
    proc = subprocess.Popen(sweep["cmd"](2, 6), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own process group: the controller and its workers
    try:
        def progress():
            try:
                trials = _study(sweep["storage"]).get_trials(deepcopy=False)
            except KeyError:  # not created yet
                return False
            return (hang / "hang").exists() and sum(t.state == TrialState.COMPLETE for t in trials) >= 2
        _wait_for(progress, "two trials done and one hanging")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep, at once
        proc.wait()
    killed = {t.number for t in _study(sweep["storage"]).trials if t.state == TrialState.RUNNING}
    assert killed  # at least the hanging trial was mid-way
    code, out = _run(sweep["cmd"](2, 6), env)  # the same command (the hang is used up)
    assert code == 0, out
    study = _study(sweep["storage"])
    failed = _check_accounting(study, 6)
    assert {t.number for t in failed} == killed
    assert all(t.user_attrs["state"] == "lost" for t in failed)
    _check_mlflow(study, sweep["tracking"])
    assert f"trials {', '.join(map(str, sorted(killed)))} were left running by a search that died" in out


@pytest.mark.needs_postgres
def test_workers_started_by_hydras_submitit_launcher(sweep, postgres):
    """hydra/launcher=submitit_local: the controller creates the study, then one Hydra multirun over
    search.worker=0,1 runs the workers as submitit jobs (the same launcher code path as submitit_slurm)."""
    meet = sweep["tmp"] / "meet"
    meet.mkdir()
    env = environment(sweep["tmp"] / "site", AUTOTINY_CHEAP_MEET=f"{meet}:3")
    cmd = [*sweep["cmd"](2, 4), "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]
    # both jobs in a trial at the same time; meanwhile nothing of the launcher listens beyond loopback
    code, out = _held_at_first_trial(cmd, env, meet, 2, lambda proc: _loopback_only([proc.pid, postgres.pid]))
    assert code == 0, out
    study = _study(sweep["storage"])
    assert _check_accounting(study, 4) == []
    assert len({t.user_attrs["owner"]["pid"] for t in study.trials if t.state == TrialState.COMPLETE}) == 2
    _check_mlflow(study, sweep["tracking"])
    jobs = sorted((sweep["tmp"] / "out" / "launch").glob("*/w*/.hydra/overrides.yaml"))
    assert [j.parent.parent.name for j in jobs] == ["w0", "w1"]
    assert [f"search.worker={i}" in j.read_text() for i, j in enumerate(jobs)] == [True, True]
    assert "through hydra/launcher=submitit_local" in out and "study t: 4 feasible" in out


@pytest.fixture(scope="module")
def slurm():
    """A one-node SLURM cluster on 127.0.0.1 (tests/slurm.py), or a skip saying why there is none."""
    from tests.slurm import Cluster, missing

    why = missing()
    if why:
        pytest.skip(why)
    cluster = Cluster()
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        cluster.stop()
        pytest.skip(f"a one-node SLURM did not start here: {str(e)[:300]}")
    yield cluster
    cluster.stop()


@pytest.mark.needs_postgres
def test_workers_run_as_a_slurm_job_array(sweep, slurm, postgres):
    """hydra/launcher=submitit_slurm on a real (one-node) SLURM: the workers are the tasks of one job array."""
    meet = sweep["tmp"] / "meet"
    meet.mkdir()
    env = environment(sweep["tmp"] / "site", SLURM_CONF=str(slurm.conf), AUTOTINY_CHEAP_MEET=f"{meet}:3")
    cmd = [*sweep["cmd"](2, 4), "hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=10"]
    # with both tasks in a trial: slurmctld, slurmd and each step's srun listen on loopback only
    code, out = _held_at_first_trial(cmd, env, meet, 2, lambda proc: _loopback_only(
        [proc.pid, postgres.pid, *slurm.processes()], ports=[postgres.port], names=["slurmctld", "slurmd", "srun"]))
    assert code == 0, out + slurm.log_tail()
    study = _study(sweep["storage"])
    assert _check_accounting(study, 4) == []
    _check_mlflow(study, sweep["tracking"])
    logs = sorted((sweep["tmp"] / "out" / "launch").glob("*/.submitit/*_*/*_log.out"))
    tasks = [log.parent.name.split("_")[1] for log in logs]  # <array job id>_<task index>
    assert tasks == ["0", "1"], logs
    assert len({log.parent.name.split("_")[0] for log in logs}) == 1  # one job array
    assert [f"worker {i} joined study t" in log.read_text() for i, log in enumerate(logs)] == [True, True]


def test_a_launcher_without_workers_is_refused_in_one_line(tmp_path, capsys):
    code = main(["search", "hydra/launcher=submitit_local", f"search.studies_dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "search.workers=N" in err, err
    code = main(["search", "hydra/launcher=slurm", f"search.studies_dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "hydra/launcher/slurm" in err, err


def test_many_workers_on_sqlite_are_refused_in_one_line(tmp_path, capsys):
    code = main(["search", "search.workers=3", f"search.studies_dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "search.workers=3" in err and "postgresql://" in err


def test_a_worker_does_not_create_a_study(tmp_path, run_overrides, capsys):
    code = main(["search", *run_overrides, "emulator=estimate", "search.worker=0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "search.worker=0: no study named t" in err, err


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.needs_postgres
def test_workers_log_through_an_mlflow_tracking_server(sweep, postgres):
    """tracking.uri=http://…: an MLflow server (on 127.0.0.1, backed by PostgreSQL) in front of the
    runs; the workers write artifacts to the shared tracking.artifact_dir themselves."""
    import urllib.request

    port = _free_port()
    backend = postgres.create_database(sweep["tmp"].name.lower().replace("-", "_")[-30:] + "_srv")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1", "--backend-store-uri", backend],
                              env=dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        def up():
            assert server.poll() is None, "mlflow server exited"
            try:
                return urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200
            except OSError:
                return False
        _wait_for(up, "the MLflow server")
        _loopback_only([server.pid, postgres.pid], ports=[port, postgres.port])
        cmd = [a if not a.startswith("tracking.uri=") else f"tracking.uri={uri}" for a in sweep["cmd"](2, 4)]
        code, out = _run(cmd, environment(sweep["tmp"] / "site"))
        assert code == 0, out
        study = _study(sweep["storage"])
        assert _check_accounting(study, 4) == []
        _check_mlflow(study, uri)
        assert list((sweep["tmp"] / "artifacts").rglob("trial.json"))  # written by the workers, not the server
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn worker: our own process group
        server.wait(60)


def test_a_grace_period_shorter_than_the_heartbeat_is_refused(tmp_path, capsys):
    code = main(["search", "search.heartbeat_s=30", "search.grace_s=20", f"search.studies_dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "search.grace_s=20 must exceed search.heartbeat_s=30" in err


def _fake_mnist(folder, n: int = 200) -> None:
    """MNIST's two test-set idx files (the vision task's data), random digits."""
    import gzip
    import struct

    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10
    for name, a in (("t10k-images-idx3-ubyte.gz", images), ("t10k-labels-idx1-ubyte.gz", labels)):
        with gzip.open(folder / name, "wb") as f:
            f.write(struct.pack(">HBB", 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes())


def test_a_multirun_over_tasks_and_boards_gives_each_combination_its_own_study(tmp_path, fake_speech):
    """The nightly sweep of the README, cheaply: `autotiny search --multirun task=… board=…` runs one
    search per combination, each on its own study (named task-board), so the same command resumes them."""
    data = tmp_path / "data"
    data.mkdir()
    (data / fake_speech.name).symlink_to(fake_speech)
    _fake_mnist(data / "mnist")
    cmd = [sys.executable, "-m", "autotiny.cli", "search", "--multirun", "task=kws,vision", "board=stm32f746,nrf52840",
           "emulator=estimate", "search.n_trials=1", f"search.studies_dir={tmp_path / 'studies'}",
           f"data.cache_dir={tmp_path / 'cache'}", f"search.output_dir={tmp_path / 'out'}/${{search.study_name}}",
           "tracking.enabled=false"]
    code, out = _run(cmd, dict(environment(tmp_path / "site"), AUTOTINY_DATA=str(data)), cwd=tmp_path)
    assert code == 0, out
    combos = sorted(f"{t}-{b}" for t in ("kws", "vision") for b in ("stm32f746", "nrf52840"))
    assert sorted(p.stem for p in (tmp_path / "studies").glob("*.db")) == combos
    for name in combos:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'studies' / name}.db")
        task, board = name.split("-")
        assert study.user_attrs["identity"]["task"] == task and study.user_attrs["identity"]["board"] == board
        assert [t.state for t in study.trials] == [TrialState.COMPLETE]
        assert (tmp_path / "out" / name / "pareto.csv").is_file()
    assert len(list((tmp_path / "outputs" / "multirun").glob("*/*/*/.hydra/overrides.yaml"))) == 4


def test_a_multirun_with_a_bad_combination_is_refused_before_any_search(tmp_path, capsys):
    code = main(["search", "--multirun", "board=nrf52840,stm32f747", f"search.studies_dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "board=stm32f747: unknown board" in err, err
    assert not list(tmp_path.iterdir())


def test_a_trial_orphaned_before_its_objective_ran_is_failed_and_queued_again(run_overrides):
    """A process killed between Optuna creating its trial (study.ask, which samples too) and the objective's
    first line leaves a RUNNING trial with no owner and no heartbeat: the stale sweep fails it and queues
    its retry once it is older than search.grace_s; a younger one may still be starting, and is left."""
    from datetime import datetime, timedelta

    from optuna.trial import FrozenTrial

    from autotiny.config import compose
    from autotiny.search import Search

    search = Search(compose([*run_overrides, "search.heartbeat_s=1", "search.grace_s=5"]))
    search.study = search._open_study()
    for age in (60, 0):
        search.study._storage.create_new_trial(search.study._study_id, template_trial=FrozenTrial(
            number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.now() - timedelta(seconds=age),
            datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs={},
            intermediate_values={}, trial_id=-1))
    assert search._reap_lost(stale=False) == []  # a worker's own check at a trial start leaves them
    assert search._reap_lost() == [0]
    trials = search.study.get_trials()
    assert [(t.state, t.user_attrs.get("state"), t.user_attrs.get("retry_of")) for t in trials] == [
        (TrialState.FAIL, "lost", None), (TrialState.RUNNING, None, None), (TrialState.WAITING, None, 0)]
