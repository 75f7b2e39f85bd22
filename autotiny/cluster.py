"""Many workers on one study: a controller creates the study once, then starts the workers.

`autotiny search ... search.workers=N` (N > 1; search.storage on a database server such as
PostgreSQL) runs `sweep` here, the controller:

1. It prepares the study exactly as a one-process search does (`Search.prepare`): the Optuna schema
   and study, the MLflow experiment and the study's parent run, and what an earlier run left
   behind failed and queued again. Once, before any worker exists: concurrent first-time creation
   races in both Optuna and MLflow. The experiment and parent-run ids go into the study's user
   attributes, where every worker reads them.
2. It starts N workers, plain processes: `python -m autotiny.cli search <the same overrides>
   search.worker=i`. Each joins the study (`Search.join`) and runs trials inside `study.optimize`
   (Optuna's heartbeat runs only there) without any barrier, until the study holds search.n_trials:
   the cap is the study's, counted across workers (autotiny.search).
3. When they have all exited it fails and re-queues what a dead worker left running, and starts
   another round while the study is short of its count for that reason (the others may have stopped
   at the cap while a killed worker's trial was still marked running). Then it runs `search.repeats`
   itself (`Search.repeat`, autotiny.repeats: the top candidates trained again with other seeds, in
   this process, those the study does not hold yet; workers never run them), writes the study's
   outputs and closes its MLflow run.

Launchers. By default (2) the workers are plain processes on this machine. With `hydra/launcher=NAME`
(and any `hydra.launcher.*` settings) step 2 is instead one Hydra multirun over the worker index,
`python -m autotiny.launch --multirun <the same overrides> search.worker=0,…,N-1 hydra/launcher=NAME`
(autotiny.launch): hydra-submitit-launcher's `submitit_slurm` submits it as a SLURM job array,
`submitit_local` runs it as local submitit jobs. Hydra's own multirun is the only way its launcher
plugins run, and autotiny composes its config with the compose API everywhere else (one-line errors),
so the controller prepares the study here and hands just the worker list to a Hydra app whose jobs
are ordinary workers. Steps 1 and 3 are the same for every launcher: no second scheduler.

Workers get SIGTERM when the controller dies (PR_SET_PDEATHSIG), so a killed sweep leaves no
orphans, and Ctrl-C/SIGTERM of the controller stop them cleanly. Running the same command again
continues the study. Plain processes rather than joblib's pool: a pool treats one worker killed
as the pool broken, where here the other workers must go on. A launcher's jobs are the launcher's:
Ctrl-C/SIGTERM of the controller reach the multirun process and what it started on this machine
(its process group: submitit_local's jobs), but SLURM jobs, and local jobs of a controller killed
with -9, run on until the study's cap (`scancel` stops SLURM's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from autotiny.config import RunConfig
from autotiny.launch import is_launch_override, launcher_of
from autotiny.search import Search, SearchOutcome


def _worker_overrides(overrides: list[str]) -> list[str]:
    """What every worker runs: the controller's own overrides, without a worker index or a launcher."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "search.worker" and not is_launch_override(o)]


def worker_command(overrides: list[str], index: int) -> list[str]:
    """The command of worker `index`, a plain process joining the study as that worker."""
    return [sys.executable, "-m", "autotiny.cli", "search", *_worker_overrides(overrides), f"search.worker={index}"]


def launch_command(overrides: list[str], n: int, sweep_dir: Path) -> list[str]:
    """One Hydra multirun whose jobs are workers 0..n-1, started by the launcher the overrides name
    (autotiny.launch); its files (each job's .hydra/, submitit's logs) go under `sweep_dir`."""
    launch = [o for o in overrides if is_launch_override(o)]
    return [sys.executable, "-m", "autotiny.launch", "--multirun", *_worker_overrides(overrides), *launch,
            f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=w${hydra.job.num}", "hydra.job.name=autotiny",
            "search.worker=" + ",".join(map(str, range(n)))]


def _die_with_controller() -> None:
    """In the worker, before exec: SIGTERM when the controller dies, even by kill -9."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Worker:
    """A process the controller started (a worker, or the Hydra multirun of the workers); its output
    comes back line by line, prefixed with its label. `group`: in a process group of its own, so that
    a stop reaches what it started too (a local launcher's jobs)."""

    def __init__(self, label: str, command: list[str], log: Callable[[str], None], group: bool = False):
        self.label, self.group = label, group
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                     preexec_fn=_die_with_controller, start_new_session=group)
        self._echo = threading.Thread(target=self._forward, args=(log,), daemon=True)
        self._echo.start()

    def _forward(self, log: Callable[[str], None]) -> None:
        for line in self.proc.stdout:  # every line the worker prints, marked with its index
            log(f"{self.label}| {line.rstrip()}")

    def stop(self, signum: int) -> None:
        try:
            if self.group:
                os.killpg(self.proc.pid, signum)
            else:
                self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def wait(self) -> int:
        code = self.proc.wait()
        self._echo.join(5)
        return code


class Sweep:
    POLL_S = 0.2

    def __init__(self, cfg: RunConfig, overrides: list[str], log: Callable[[str], None] = print):
        self.cfg, self.overrides, self.log = cfg, list(overrides), log
        self.search = Search(cfg, log)
        self.launcher = launcher_of(overrides)  # None: plain processes on this machine
        self.worker_codes: list[int] = []
        self.rounds = 0
        self.timed_out = False

    def run(self) -> SearchOutcome:
        search = self.search
        search.signals.install()
        try:
            search.prepare()
            interrupted = self._rounds()
            interrupted = interrupted or search.repeat()  # once, here: resumable as in one process
            outcome = search.finish(interrupted)
        except BaseException:
            if search.owns_study_run:
                search.tracker.abandon_study()
            raise
        finally:
            if search.runner is not None:  # the repeats' trial runner
                search.runner.close()
            search.signals.restore()
        if not interrupted and outcome.exit_code == 0:
            outcome.exit_code = self._exit_code()
        return outcome

    def _rounds(self) -> bool:
        cfg, search = self.cfg, self.search
        deadline = time.monotonic() + cfg.search.timeout_s if cfg.search.timeout_s else None
        done_before = None
        while True:
            done = search.done()
            remaining = cfg.search.n_trials - done
            if remaining <= 0 or search.signals.requested:
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.log(f"search.timeout_s={cfg.search.timeout_s:g} passed: no more workers started")
                self.timed_out = True
                break
            if done_before is not None and done == done_before:
                self.log(f"no trial finished in the last round of workers: stopping with {done}/{cfg.search.n_trials}")
                break
            done_before = done
            n = min(cfg.search.workers, remaining)
            self.rounds += 1
            how = f" through hydra/launcher={self.launcher}" if self.launcher else ""
            self.log(f"starting {n} workers{how} on study {cfg.search.study_name} "
                     f"({done}/{cfg.search.n_trials} done)")
            ended = self._round(n)
            self.worker_codes += [code for _, code in ended]
            lost = search.reap_lost()  # a worker killed mid-trial left it running: fail it, queue it again
            died = [f"{label} ({_how(code)})" for label, code in ended if code not in (0, 130, 143)]
            if died or lost:
                self.log("workers that ended abnormally: " + (", ".join(died) or "none")
                         + (f"; their trials {', '.join(map(str, lost))} are queued again" if lost else ""))
        return search.signals.requested

    def _round(self, n: int) -> list[tuple[str, int]]:
        """Start n workers and wait for them: plain processes, or one Hydra multirun of n jobs."""
        if self.launcher:
            stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{self.rounds}"
            folder = Path(self.cfg.search.output_dir).resolve() / "launch" / stamp
            self.log(f"the launcher's files and each worker's log: {folder}")
            workers = [Worker(f"hydra/launcher={self.launcher}", launch_command(self.overrides, n, folder), self.log,
                              group=True)]
        else:
            workers = [Worker(f"w{i}", worker_command(self.overrides, i), self.log) for i in range(n)]
        forwarded = False
        while any(w.proc.poll() is None for w in workers):
            if self.search.signals.requested and not forwarded:  # stop them cleanly: they mark their trials
                for w in workers:
                    if w.proc.poll() is None:
                        w.stop(self.search.signals.signum or signal.SIGINT)
                forwarded = True
            time.sleep(self.POLL_S)
        return [(w.label, w.wait()) for w in workers]

    def _exit_code(self) -> int:
        """2 when a worker refused its configuration, 1 when the study is short of its count."""
        if 2 in self.worker_codes:
            return 2
        if self.search.done() < self.cfg.search.n_trials and not self.timed_out:
            return 1
        return 0


def _how(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def sweep(cfg: RunConfig, overrides: list[str], log: Callable[[str], None] = print) -> SearchOutcome:
    return Sweep(cfg, overrides, log).run()
