"""Progress of a search, on a fake clock: what a log gets (plain lines after each trial and every interval),
what a terminal gets (a live bar under the log lines), and the facts in both."""

import io
from types import SimpleNamespace

from autotiny.measure import Figure
from autotiny.progress import SearchProgress, duration
from autotiny.results import OBJECTIVES
from autotiny.trial import TrialRecord


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _rec(number, state="complete", val=0.5):
    rec = TrialRecord(number=number, state=state, feasible=state == "complete", trained=state == "complete")
    if state == "complete":
        rec.metrics = {"val_accuracy": val, OBJECTIVES["accuracy"][1]: val}  # what the accuracy objective reads
        rec.figures = {"flash_bytes": Figure(1.0, "B", "emulated"), "ram_bytes": Figure(1.0, "B", "emulated")}
    return rec


def _frozen(rec):  # an Optuna trial as the search stores it
    return SimpleNamespace(number=rec.number, user_attrs={"record": rec.to_dict()})


def test_a_log_gets_a_line_after_each_trial_and_every_interval():
    clock, out, stage = Clock(), io.StringIO(), ["data"]
    p = SearchProgress(4, ["accuracy", "flash"], stream=out, interactive=False, interval_s=60, clock=clock)
    p.watch(lambda: stage[0])
    # a resumed study: trials 0 (feasible, 0.6) and 1 (over budget) were done by an earlier run
    p.trial_started(2, 3, [_frozen(_rec(0, val=0.6)), _frozen(_rec(1, "infeasible"))])
    clock.t += 30
    p.tick()
    assert out.getvalue() == ""  # within the interval: nothing
    stage[0] = "train"
    clock.t += 31
    p.tick()
    assert out.getvalue().splitlines() == [
        "progress: 2/4 trials done | 1m01s elapsed, ETA after the first trial | best val 0.600 (trial 0) | "
        "1 feasible | trial 2 (3/4): train, 1m01s"]
    clock.t += 39
    p.trial_done(_rec(2, val=0.7))  # 100 s: ETA = 1 trial left x 100 s
    assert out.getvalue().splitlines()[-1] == (
        "progress: 3/4 trials done | 1m40s elapsed, ETA 1m40s | best val 0.700 (trial 2) | 2 feasible")
    clock.t += 59
    p.tick()
    assert len(out.getvalue().splitlines()) == 2  # the trial's line restarted the interval
    p.log("[trial 3 (4/4)] ds_cnn ...")
    assert out.getvalue().splitlines()[-1] == "[trial 3 (4/4)] ds_cnn ..."
    p.trial_started(3, 4, [])
    clock.t += 30
    assert "ETA 1m10s" in p.status()  # the last trial: 100 s on average, 30 s of it spent


def test_a_resumed_study_that_only_repeats_says_what_it_has_and_what_it_does():
    """Resumed with all its trials done and only search.repeats missing, no trial starts: the line still
    counts what earlier runs did and says the repeats run (it said 0/3 and "preparing" before)."""
    clock, out = Clock(), io.StringIO()
    p = SearchProgress(3, stream=out, interactive=False, interval_s=60, clock=clock)
    p.resumed([_frozen(_rec(0, val=0.6)), _frozen(_rec(1, "infeasible")), _frozen(_rec(2, val=0.8))], done=3)
    p.phase("repeats: trials 2, 0 with 2 other seeds each")
    clock.t += 61
    p.tick()
    assert out.getvalue().splitlines() == [
        "progress: 3/3 trials done | 1m01s elapsed, ETA after the first trial | best val 0.800 (trial 2) | "
        "2 feasible | repeats: trials 2, 0 with 2 other seeds each"]
    p.phase("")
    assert p.status().endswith("2 feasible | preparing: checks, data, study")
    p.trial_started(3, 4, [_frozen(_rec(0, val=0.6))])  # seeded once: trial 0 is not counted twice
    assert p.feasible == 2


def test_failed_trials_do_not_count_and_a_worker_starting_says_so():
    clock, out = Clock(), io.StringIO()
    p = SearchProgress(2, stream=out, interactive=False, interval_s=10, clock=clock)
    p.watch(lambda: "import")
    assert p.status().endswith("best: none feasible yet | 0 feasible | trial worker starting: import")
    p.trial_started(0, 1, [])
    p.trial_done(_rec(0, "failed"))
    assert out.getvalue().startswith("progress: 0/2 trials done") and "0 feasible" in out.getvalue()


def test_a_terminal_gets_a_live_bar_under_the_log_lines():
    clock, out = Clock(), io.StringIO()
    p = SearchProgress(5, stream=out, interactive=True, clock=clock)
    p.watch(lambda: "convert")
    with p:
        p.trial_started(0, 1, [])
        clock.t += 12
        p.log("[trial 0 (1/5)] ds_cnn b1 c8")
        p._live.refresh()
    text = out.getvalue()
    assert "[trial 0 (1/5)] ds_cnn b1 c8" in text
    drawings = [d for d in text.split("\r\x1b[2K") if "0/5 trials" in d]
    assert drawings[-1].startswith("\x1b[90m") and "0/5 trials | trial 0: convert 12s | no feasible yet" in drawings[-1]
    assert all(d.count("\n") <= 1 for d in drawings)  # one line, cut to the terminal's width (80 here)
    assert "\x1b[" in text  # drawn (and redrawn in place) with terminal control codes
    assert "progress:" not in text  # the plain lines are for logs


def test_durations_read_like_a_person_writes_them():
    assert [duration(s) for s in (0.4, 59, 61, 3599, 3600, 7325)] == ["0s", "59s", "1m01s", "59m59s", "1h00m",
                                                                       "2h02m"]
