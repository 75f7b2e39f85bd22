"""How long a search takes to stop after Ctrl-C (or SIGTERM), per stage of a trial.

For each stage, runs `autotiny search` with AUTOTINY_INTERRUPT_AT=<stage> (autotiny/stages.py:
the stage's first entry sends a real signal to the search) and measures the time from the
signal to the process's exit. With `--runner inline` the trial runs in the search process
itself, which shows what the worker process buys: a signal that lands in a native call
(TensorFlow's import, a conversion) waits for that call to return.

    .venv/bin/python bench/stop_times.py                     # process runner (the default), SIGINT
    .venv/bin/python bench/stop_times.py --runner inline --signal TERM --stages train convert

Uses ../shared/data's Speech Commands (AUTOTINY_DATA, 20 clips per class) when present, else a
small synthetic set. Prints one row per stage: exit code, seconds from signal to exit.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autotiny.stages import STAGES  # noqa: E402

SPACE = """
frontend:
  type: mfcc
  params: {window_ms: 30, hop_ms: 20, n_mels: 40, n_mfcc: 10}
model:
  type: ds_cnn
  params: {n_blocks: 2, channels: 16, first_kernel: [10, 4], first_stride: [2, 2]}
training: {epochs: 3, learning_rate: 0.005, batch_size: 32}
"""


def _data_overrides(tmp: Path) -> list[str]:
    data = os.environ.get("AUTOTINY_DATA")
    if data and (Path(data) / "speech_commands_v0.02").is_dir():
        return ["data.max_per_class=20"]
    from tests.fakes import make_fake_speech_commands

    root = make_fake_speech_commands(tmp / "speech_commands_v0.02", per_class=12, layout="twelve", n_speakers=20)
    return [f"data.root={root}"]


def stop_once(stage: str, runner: str, signame: str, tmp: Path, data: list[str]) -> tuple[int, float | None]:
    space = tmp / "space.yaml"
    space.write_text(SPACE)
    run = tmp / f"{stage}-{runner}"
    cmd = [sys.executable, "-m", "autotiny.cli", "search", *data, f"data.cache_dir={tmp / 'cache'}",
           f"search.space={space}", f"search.studies_dir={run / 'studies'}", f"search.output_dir={run / 'out'}",
           f"tracking.uri=sqlite:///{run / 'mlflow.db'}", f"tracking.artifact_dir={run / 'artifacts'}",
           "search.study_name=stop", "search.n_trials=1", f"search.runner={runner}"]
    env = dict(os.environ, AUTOTINY_INTERRUPT_AT=stage, AUTOTINY_INTERRUPT_SIGNAL=signame, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    err = p.stderr.read()
    p.wait()
    exited = time.time()
    m = re.search(r"test hook: SIG\w+ at stage \S+ t=([0-9.]+)", err)
    return p.returncode, (exited - float(m.group(1))) if m else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runner", choices=["process", "inline"], default="process")
    ap.add_argument("--signal", choices=["INT", "TERM"], default="INT")
    ap.add_argument("--stages", nargs="*", default=list(STAGES))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="autotiny-stop-") as d:
        tmp = Path(d)
        data = _data_overrides(tmp)
        print(f"runner={args.runner} signal=SIG{args.signal}; seconds from the signal to the search's exit")
        print(f"{'stage':10s} {'exit':>5s} {'stop s':>8s}")
        for stage in args.stages:
            code, secs = stop_once(stage, args.runner, args.signal, tmp, data)
            shown = f"{secs:8.2f}" if secs is not None else "   (not reached)"
            print(f"{stage:10s} {code:>5d} {shown}", flush=True)


if __name__ == "__main__":
    main()
