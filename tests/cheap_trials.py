"""Cheap trials, for tests and benches of the study machinery (many workers, kills, resume): the
search runs exactly as a user runs it, but each trial's work is a short sleep that returns a
record with figures made up from the candidate's parameters — no TensorFlow, no firmware.

`environment(folder)` returns an environment in which every Python process — a search, and each
worker a sweep starts — runs cheap trials: it writes `sitecustomize.py` (which Python imports at
start-up from PYTHONPATH) into `folder`. Knobs, all environment variables:
  AUTOTINY_CHEAP_SECONDS   one trial's length (default 0.2)
  AUTOTINY_CHEAP_CPU=1     spend that time computing instead of sleeping (workers then compete for cores)
  AUTOTINY_CHEAP_HANG=DIR  the first trial to create DIR/hang hangs until it is killed; the file holds
                           its process id, so a test knows which worker is mid-trial
  AUTOTINY_CHEAP_MEET=DIR:N a process's first trial waits (up to 120 s) until N processes have each
                           started one: proof that N workers ran trials at the same time
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_met = False


class CheapRunner:
    stage = ""

    def __init__(self, signals):
        self.signals = signals

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, spec, number: int, trial_dir: Path, seed: int):
        from autotiny.measure import Figure
        from autotiny.results import OBJECTIVES
        from autotiny.trial import TrialRecord

        with self.signals.interruptible():
            _meet()
            hang = os.environ.get("AUTOTINY_CHEAP_HANG")
            if hang and _claim(Path(hang) / "hang"):
                while True:
                    time.sleep(1)
            _work(float(os.environ.get("AUTOTINY_CHEAP_SECONDS", "0.2")))
        h = int(hashlib.sha1(json.dumps(spec.flat(), sort_keys=True, default=str).encode()).hexdigest()[:8], 16)
        rec = TrialRecord(number=number, candidate=spec.to_dict(), seed=seed, state="complete", trained=True,
                          feasible=True)
        rec.figures = {"flash_bytes": Figure(float(20_000 + h % 30_000), "B", "estimated"),
                       "ram_bytes": Figure(float(8_000 + h % 20_000), "B", "estimated"),
                       "latency_ms": Figure(1 + (h % 500) / 10, "ms", "estimated"),
                       "energy_uj": Figure(10 + (h % 900) / 3, "uJ", "estimated")}
        rec.metrics = {"val_accuracy": (h % 1000) / 1000, "test_accuracy": (h // 1000 % 1000) / 1000}
        for _, key in OBJECTIVES.values():  # whatever else an objective reads (a field accuracy, a cost)
            if key not in rec.figures and key not in rec.metrics:
                rec.metrics[key] = (h // 7 % 1000) / 1000
        return rec


def _work(seconds: float) -> None:
    if os.environ.get("AUTOTINY_CHEAP_CPU") != "1":
        time.sleep(seconds)
        return
    end = time.process_time() + seconds  # CPU seconds: a busy worker takes as long as it would alone
    while time.process_time() < end:
        sum(i * i for i in range(10_000))


def _claim(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def _meet() -> None:
    global _met
    meet = os.environ.get("AUTOTINY_CHEAP_MEET")
    if not meet or _met:
        return
    folder, n = meet.rsplit(":", 1)
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(Path(folder).iterdir())) < int(n) and time.monotonic() < deadline:
        time.sleep(0.05)
    _met = True


def install() -> None:
    import autotiny.search

    autotiny.search.make_runner = lambda cfg, signals, data, log: CheapRunner(signals)


def environment(folder: Path, **knobs: str) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text("import tests.cheap_trials\ntests.cheap_trials.install()\n")
    path = os.pathsep.join([str(folder), str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1", **knobs)
