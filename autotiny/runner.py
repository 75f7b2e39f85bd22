"""Where a trial's work runs, and how the search stops it.

`ProcessRunner` (the default, `search.runner=process`) runs trials in one long-lived worker
process that imports TensorFlow once. The search process itself never imports TensorFlow and
only waits on the worker, so Ctrl-C or SIGTERM stop it at once at every stage — TensorFlow's
import, training, a conversion, the firmware build, emulation — even inside a native call
that Python cannot interrupt: the search kills the worker and records the trial as
interrupted. A worker that dies (out of memory, a crash in native code) fails its trial and a
new worker takes the next one. The worker dies with the search (PR_SET_PDEATHSIG), so a
`kill -9` of the search leaves no orphan training on.

`InlineRunner` (`search.runner=inline`) runs trials in the search process: for debugging and
for tests that patch the pipeline.

`StopSignals` turns SIGINT/SIGTERM into a clean stop: while the search waits on trial work the
signal raises KeyboardInterrupt at once; while it writes a trial's results (Optuna, MLflow,
files) the signal is only noted and honoured right after, so no record is half-written.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from autotiny import stages
from autotiny.config import RunConfig
from autotiny.space import CandidateSpec


class TrialFailed(Exception):
    """The trial's work raised or its worker died; `reason` is one line, `stage` where it was."""

    def __init__(self, reason: str, stage: str = "", timings: dict | None = None):
        super().__init__(reason)
        self.reason, self.stage, self.timings = reason, stage, timings or {}


def one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:500]


class StopSignals:
    EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self):
        self.signum: int | None = None
        self._depth = 0
        self._old: dict[int, object] = {}

    def install(self) -> None:
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        except ValueError:  # not the main thread: signals stay with whoever owns them
            self._old.clear()

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return self.EXIT_CODES.get(self.signum, 130)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "SIGINT"

    def _handle(self, signum, frame) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if first and self._depth > 0:
            raise KeyboardInterrupt

    @contextmanager
    def interruptible(self):
        """A signal inside this block raises KeyboardInterrupt at once (also one noted before it)."""
        if self.signum is not None:
            raise KeyboardInterrupt
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1


def _no_judge(epoch: int, value: float) -> bool:
    return False


class InlineRunner:
    def __init__(self, cfg: RunConfig, signals: StopSignals, data=None):
        self.cfg, self.signals, self.data, self.stage = cfg, signals, data, ""
        self.judge = _no_judge  # the search sets it per trial: whether the trial goes on after an epoch

    def start(self) -> None:
        stages.set_listener(self._on_stage)
        if self.cfg.search.judges_training:
            stages.set_judge(lambda epoch, value: self.judge(epoch, value))

    def _on_stage(self, name: str) -> None:
        self.stage = name

    def run(self, spec: CandidateSpec, number: int, trial_dir: Path, seed: int):
        from autotiny.pipeline import Timings
        from autotiny.trial import run_candidate

        timings = Timings()
        self.stage = ""
        with self.signals.interruptible():
            try:
                return run_candidate(spec, self.cfg, self.data, number, trial_dir, seed, timings)
            except Exception as e:
                raise TrialFailed(one_line(e), self.stage, timings.seconds) from e
            finally:
                if "tf_keras" in sys.modules:  # not mid-import after a Ctrl-C: that would re-import TF here
                    sys.modules["tf_keras"].backend.clear_session()  # memory flat over many trials

    def close(self) -> None:
        stages.set_listener(None)
        stages.set_judge(None)


class ProcessRunner:
    POLL_S = 0.1

    def __init__(self, cfg: RunConfig, signals: StopSignals, log: Callable[[str], None] = print):
        self.cfg, self.signals, self.log = cfg, signals, log
        self.proc = None
        self.conn = None
        self.stage = ""
        self.judge = _no_judge  # the search sets it per trial; the worker asks it after each epoch

    def start(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # a fresh interpreter: nothing of the search's threads or state
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, self.cfg, os.getpid()),
                                name="autotiny-trial-worker", daemon=True)
        self.stage = "import"
        self.proc.start()
        child.close()
        kind, *rest = self._wait()
        if kind != "ready":
            raise TrialFailed(rest[0] if rest else "the trial worker did not start", self.stage)

    def run(self, spec: CandidateSpec, number: int, trial_dir: Path, seed: int):
        if self.proc is None or not self.proc.is_alive():
            self.start()
        self.stage = ""
        self.conn.send(("trial", spec, number, str(trial_dir), seed))
        kind, *rest = self._wait()
        if kind == "done":
            return rest[0]
        reason, stage, timings = rest
        raise TrialFailed(reason, stage, timings)

    def _wait(self):
        """The next answer from the worker; stage reports are noted on the way. A signal interrupts
        only the wait itself, never a message half read (that would lose where the trial stopped)."""
        try:
            while True:
                with self.signals.interruptible():
                    ready = self.conn.poll(self.POLL_S)
                if ready:
                    try:
                        msg = self.conn.recv()
                    except (EOFError, OSError):
                        return ("error", self._death(), self.stage, {})
                    if msg[0] == "stage":
                        self.stage = msg[1]
                        continue
                    if msg[0] == "epoch":  # the worker waits for the verdict before its next epoch
                        self.conn.send(("verdict", bool(self.judge(msg[1], msg[2]))))
                        continue
                    return msg
                if not self.proc.is_alive():
                    return ("error", self._death(), self.stage, {})
        except KeyboardInterrupt:
            self._drain_stages()  # the worker reports a stage before any signal it sends: note it
            self.kill()
            raise

    def _drain_stages(self) -> None:
        try:
            while self.conn.poll(0):
                msg = self.conn.recv()
                if msg[0] == "stage":
                    self.stage = msg[1]
        except (EOFError, OSError):
            pass

    def _death(self) -> str:
        self.proc.join(5)
        code = self.proc.exitcode
        self.proc = None
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        hint = " (out of memory?)" if code == -signal.SIGKILL else ""
        return f"WorkerDied: the trial worker process died ({how}){hint} during stage {self.stage or '?'}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()  # the trial is lost anyway; a kill cannot hang in a native call
            self.proc.join(10)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(("stop",))
                self.proc.join(10)
            except (OSError, BrokenPipeError):
                pass
        self.kill()


def make_runner(cfg: RunConfig, signals: StopSignals, data, log: Callable[[str], None]):
    if cfg.search.runner == "inline":
        return InlineRunner(cfg, signals, data)
    return ProcessRunner(cfg, signals, log)


# ---- the worker process ----------------------------------------------------------------------

def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills this worker when the search dies (even by kill -9)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os._exit(1)


def _worker_main(conn, cfg: RunConfig, parent_pid: int) -> None:
    # A terminal's Ctrl-C reaches the whole process group: the search decides, and kills us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    stages.set_listener(lambda name: conn.send(("stage", name)), search_pid=parent_pid)
    if cfg.search.judges_training:
        stages.set_judge(lambda epoch, value: conn.send(("epoch", epoch, value)) or conn.recv()[1])
    try:
        stages.enter("import")
        from autotiny.tf_env import tf_keras

        tf_keras()
        if cfg.emulator.name == "builtin":
            stages.enter("firmware")
            from autotiny.measure import emulator

            emulator.machine(cfg.board)  # build (or reuse) the board's firmware and load it once
        from autotiny.pipeline import TaskData

        data = TaskData(cfg)
    except Exception as e:
        conn.send(("error", one_line(e), "", {}))
        return
    conn.send(("ready",))
    from autotiny.pipeline import Timings
    from autotiny.trial import run_candidate

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        _, spec, number, trial_dir, seed = msg
        timings = Timings()
        stage = [""]
        stages.set_listener(lambda name: (stage.__setitem__(0, name), conn.send(("stage", name))),
                            search_pid=parent_pid)
        t0 = time.perf_counter()
        try:
            rec = run_candidate(spec, cfg, data, number, Path(trial_dir), seed, timings)
            conn.send(("done", rec))
        except Exception as e:
            timings.seconds.setdefault("failed_after", time.perf_counter() - t0)
            conn.send(("error", one_line(e), stage[0], dict(timings.seconds)))
        finally:
            if "tf_keras" in sys.modules:
                sys.modules["tf_keras"].backend.clear_session()  # memory flat over many trials
