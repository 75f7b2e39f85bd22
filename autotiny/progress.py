"""A search's progress: trial n of N, elapsed, ETA, best so far, feasible count, the running trial's stage.

On a terminal: one live bar line (rich) under the search's log lines, redrawn twice a second. In a
log (a file, a pipe, a job scheduler's output): the same facts as a plain `progress:` line after
each trial and every `AUTOTINY_PROGRESS_S` seconds (default 60) while one runs, so a long trial
still shows where it is. Training prints nothing (Keras verbose=0): epochs never flood either.

The search tells it when a trial starts and ends (`Search(progress=...)`); the running trial's
stage is read from the runner (`watch`), which hears it from the trial worker (autotiny.stages).
Knows nothing of how trials run or are counted: n comes from the search.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, TextIO

from autotiny.trial import TrialRecord

DEFAULT_INTERVAL_S = 60.0


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Quiet:
    """No progress (the default of a Search: tests, a sweep's workers)."""

    def trial_started(self, number: int, n: int, trials) -> None:
        pass

    def resumed(self, trials, done: int) -> None:
        pass

    def phase(self, what: str) -> None:
        pass

    def trial_done(self, rec: TrialRecord) -> None:
        pass


class SearchProgress(Quiet):
    def __init__(self, n_trials: int, objectives: list[str] | tuple[str, ...] = ("accuracy",),
                 stream: TextIO | None = None, interactive: bool | None = None, interval_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total = n_trials
        self.objectives = list(objectives)
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        env = os.environ.get("AUTOTINY_PROGRESS_S")
        self.interval_s = interval_s if interval_s is not None else float(env) if env else DEFAULT_INTERVAL_S
        self.clock = clock
        self.t0 = clock()
        self.done = 0  # trials of the study that count toward n_trials
        self.ran: list[float] = []  # seconds of each trial this run finished (for the ETA)
        self.best: TrialRecord | None = None  # as the search picks its best (results.best_of)
        self.feasible_records: list[TrialRecord] = []
        self.running: int | None = None  # the running trial's number, its n and when it began
        self.running_n = 0
        self.started_at = 0.0
        self.stage_of: Callable[[], str] = lambda: ""
        self._phase = ""  # what the search does between trials (e.g. repeats), shown when no trial runs
        self._seeded = False
        self._lock = threading.Lock()
        self._last_line = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = None

    # ---- what the search says ------------------------------------------------------------------------
    def watch(self, stage_of: Callable[[], str]) -> None:
        """Where the running trial is: e.g. lambda: search.runner.stage."""
        self.stage_of = stage_of

    def resumed(self, trials, done: int) -> None:
        """The study as the search opens it: what earlier runs found and finished counts too (a resumed
        study may start no trial at all, e.g. when only its repeats are missing)."""
        self._seed(trials, skip=None)
        self.done = max(self.done, done)

    def phase(self, what: str) -> None:
        """What the search does when no trial runs ("" when nothing in particular)."""
        self._phase = what

    def _seed(self, trials, skip: int | None) -> None:
        if self._seeded:
            return
        from autotiny.results import record_of

        for t in trials:
            rec = record_of(t)
            if rec is not None and t.number != skip:
                self._note(rec)
        self._seeded = True

    def trial_started(self, number: int, n: int, trials) -> None:
        """Trial `number` begins as the study's n-th; `trials`: the study's trials (Optuna) as it begins."""
        self._seed(trials, skip=number)  # a resumed study: what earlier runs found counts too
        self.running, self.running_n, self.started_at = number, n, self.clock()
        self.done = max(self.done, n - 1)

    def trial_done(self, rec: TrialRecord) -> None:
        self.ran.append(self.clock() - self.started_at)
        if rec.state in ("complete", "infeasible", "pruned"):
            self.done = max(self.done, self.running_n)
        self._note(rec)
        self.running = None
        if not self.interactive:
            self._emit(self.status())

    @property
    def feasible(self) -> int:
        return len(self.feasible_records)

    def _note(self, rec: TrialRecord) -> None:
        from autotiny.results import best_of

        if rec.state == "complete" and rec.reused_from is None:
            self.feasible_records.append(rec)
            self.best = best_of(self.feasible_records, self.objectives)

    def _best(self, compact: bool) -> str:
        from autotiny.results import OBJECTIVES

        b = self.best
        if b is None:
            return "no feasible yet" if compact else "best: none feasible yet"
        if "cost" in self.objectives:
            return f"best cost {b.value(OBJECTIVES['cost'][1]) or 0:.1f}/1000 (trial {b.number})"
        acc = b.metrics.get(OBJECTIVES["accuracy"][1], b.metrics.get("val_accuracy", 0))
        return f"best {'' if compact else 'val '}{acc:.3f} (trial {b.number})"

    # ---- what it shows ------------------------------------------------------------------------------
    def eta(self) -> float | None:
        """Mean time of this run's trials x trials left, less what the running one has already spent."""
        if not self.ran:
            return None
        spent = self.clock() - self.started_at if self.running is not None else 0.0
        return max(sum(self.ran) / len(self.ran) * max(self.total - self.done, 0) - spent, 0.0)

    def status(self, compact: bool = False) -> str:
        """The facts on one line: spelt out for a log, compact for a terminal's bar (its width is the limit)."""
        now = self.clock()
        eta = self.eta()
        stage = self.stage_of() or ""
        if compact:
            parts = [f"{self.done}/{self.total} trials",
                     f"trial {self.running}: {stage or 'starting'} {duration(now - self.started_at)}"
                     if self.running is not None else f"worker starting: {stage}" if stage in ("import", "firmware")
                     else self._phase or ("" if self.ran else "preparing"), self._best(compact=True), f"{self.feasible} feasible",
                     f"{duration(now - self.t0)}, ETA {duration(eta) if eta is not None else '?'}"]
            return " | ".join(p for p in parts if p)
        parts = [f"{self.done}/{self.total} trials done", f"{duration(now - self.t0)} elapsed"
                 + (f", ETA {duration(eta)}" if eta is not None else ", ETA after the first trial")]
        parts.append(self._best(compact=False))
        parts.append(f"{self.feasible} feasible")
        if self.running is not None:
            parts.append(f"trial {self.running} ({self.running_n}/{self.total}): {stage or 'starting'}, "
                         f"{duration(now - self.started_at)}")
        elif stage in ("import", "firmware"):  # the trial worker starting: TensorFlow, the board's firmware
            parts.append(f"trial worker starting: {stage}")
        elif self._phase:
            parts.append(self._phase)
        elif not self.ran:
            parts.append("preparing: checks, data, study")
        return " | ".join(parts)

    # ---- output -------------------------------------------------------------------------------------
    def log(self, line: str) -> None:
        """A search log line: above the live bar on a terminal, as is in a log."""
        with self._lock:
            if self._live is not None:
                self._live.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                print(line, file=self.stream, flush=True)

    def _emit(self, status: str) -> None:
        with self._lock:
            print(f"progress: {status}", file=self.stream, flush=True)
            self._last_line = self.clock()

    def tick(self) -> None:
        """In a log: a progress line when none was written for interval_s (the timer thread calls this)."""
        if self.clock() - self._last_line >= self.interval_s:
            self._emit(self.status())

    def _renderable(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=max(self.total, 1), completed=self.done, width=16),
                     Text(self.status(compact=True), no_wrap=True, overflow="ellipsis"))  # one line, always
        return grid

    def start(self) -> SearchProgress:
        if self.interactive:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(get_renderable=self._renderable, console=Console(file=self.stream, force_terminal=True),
                              refresh_per_second=2, transient=True, redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        else:
            self._thread = threading.Thread(target=self._every_interval, name="autotiny-progress", daemon=True)
            self._thread.start()
        return self

    def _every_interval(self) -> None:
        while not self._stop.wait(min(self.interval_s, 5.0)):
            self.tick()

    def close(self) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._thread is not None:
            self._thread.join(timeout=1)

    def __enter__(self) -> SearchProgress:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
