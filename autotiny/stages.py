"""The named stages of a trial, and the hook that stops a search at one of them on purpose.

Code that starts a stage calls `enter(name)`. A listener (the trial worker's pipe to the
search) hears every stage, so the search can say where a trial is and where it stopped.

`AUTOTINY_INTERRUPT_AT=<stage>` makes the first entry into that stage send a real signal
(`AUTOTINY_INTERRUPT_SIGNAL`: INT by default, TERM or KILL) to the search process: the
deterministic way for tests and `bench/stop_times.py` to stop a search mid-stage, whatever
the machine's load. The hook prints one line with the time it fired, for the bench.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Callable

# in the order a trial meets them; import and firmware happen once per worker, before the first trial
STAGES = ("import", "firmware", "data", "build", "precheck", "emulate", "train", "convert", "evaluate")

_listener: Callable[[str], None] | None = None
_search_pid: int | None = None  # who gets the hook's signal; None: this process
_fired = False
_judge: Callable[[int, float], bool] | None = None  # asks the search whether a trial goes on (autotiny.pruning)


def set_listener(listener: Callable[[str], None] | None, search_pid: int | None = None) -> None:
    global _listener, _search_pid
    _listener, _search_pid = listener, search_pid


def set_judge(judge: Callable[[int, float], bool] | None) -> None:
    global _judge
    _judge = judge


def judging() -> bool:
    """Does anyone decide between epochs (search.pruner set)? If not, the training loop need not score them."""
    return _judge is not None


def epoch_end(epoch: int, value: float) -> bool:
    """After training epoch `epoch` (1-based) with validation metric `value`: True means stop the trial."""
    return bool(_judge(epoch, value)) if _judge is not None else False


def enter(name: str) -> None:
    global _fired
    if _listener is not None:
        _listener(name)
    if not _fired and os.environ.get("AUTOTINY_INTERRUPT_AT") == name:
        _fired = True
        signame = "SIG" + os.environ.get("AUTOTINY_INTERRUPT_SIGNAL", "INT").upper().removeprefix("SIG")
        sys.stderr.write(f"autotiny: test hook: {signame} at stage {name} t={time.time():.6f}\n")
        sys.stderr.flush()
        os.kill(_search_pid or os.getpid(), getattr(signal, signame))
