"""Trials per minute with 1, 2 and 4 workers on one study (PostgreSQL), for a cheap objective.

    .venv/bin/python bench/workers_throughput.py [--trials 24] [--seconds 1.0] [--workers 1,2,4]

Starts a throw-away PostgreSQL on 127.0.0.1 (tests/postgres.py: Debian's initdb/pg_ctl), and for
each worker count runs `autotiny search ... search.workers=N` exactly as a user would, with cheap
trials (tests/cheap_trials.py): each trial's work is `--seconds` of sleep ("sleep": workers wait
on nothing but the study machinery — Optuna, MLflow, the database) or of computation ("cpu": workers
compete for this machine's cores). Optuna storage and MLflow tracking are both on the server.
One worker is the plain one-process search (no controller).

Columns: trials/min over the trials themselves (first trial start → last trial end, read from
the study) and over the whole command (process start-up included: each worker imports Optuna,
MLflow and Hydra).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.cheap_trials import environment  # noqa: E402
from tests.fakes import make_fake_speech_commands  # noqa: E402
from tests.postgres import Server, available  # noqa: E402


def run_one(server: Server, tmp: Path, data: Path, workers: int, trials: int, seconds: float, mode: str):
    import optuna
    from optuna.trial import TrialState

    name = f"bench_{mode}_{workers}"
    storage, tracking = server.create_database(name), server.create_database(name + "_ml")
    overrides = [f"data.root={data}", f"data.cache_dir={tmp / 'cache'}", "emulator=estimate",
                 f"search.storage={storage}", f"search.output_dir={tmp / name}", "search.study_name=bench",
                 f"tracking.uri={tracking}", f"tracking.artifact_dir={tmp / name / 'artifacts'}",
                 f"search.n_trials={trials}", f"search.workers={workers}", "search.timeout_s=null"]
    env = environment(tmp / "site", AUTOTINY_CHEAP_SECONDS=str(seconds), AUTOTINY_CHEAP_CPU="1" if mode == "cpu" else "0")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "autotiny.cli", "search", *overrides], env=env, cwd=tmp,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{workers} workers: exit {r.returncode}\n{(r.stdout + r.stderr)[-3000:]}")
    study = optuna.load_study(study_name="bench", storage=storage)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return len(done), span, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--modes", default="sleep,cpu")
    args = ap.parse_args()
    if not available():
        raise SystemExit("PostgreSQL's initdb/pg_ctl not found: make postgres (apt-get install postgresql)")
    server = Server().start()
    try:
        with tempfile.TemporaryDirectory(prefix="autotiny-bench-") as d:
            tmp = Path(d)
            data = make_fake_speech_commands(tmp / "speech" / "speech_commands_v0.02", per_class=12)
            print(f"{server.version}; {os.cpu_count()} cores; load average at start "
                  f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
            print(f"{args.trials} cheap trials of {args.seconds:g} s each per run; Optuna + MLflow on PostgreSQL")
            print(f"{'work':>5}  {'workers':>7}  {'trials':>6}  {'trials/min':>10}  {'whole command':>13}  "
                  f"{'trials/min incl. start-up':>25}")
            for mode in args.modes.split(","):
                for w in (int(x) for x in args.workers.split(",")):
                    n, span, wall = run_one(server, tmp, data, w, args.trials, args.seconds, mode)
                    print(f"{mode:>5}  {w:>7}  {n:>6}  {n / span * 60:>10.1f}  {wall:>11.1f} s  "
                          f"{n / wall * 60:>25.1f}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
