"""What the budget pre-check costs per candidate: the shape model (autotiny.probe) against the
TFLite converter it replaces, on candidates sampled from a search space.

    .venv/bin/python bench/precheck_speed.py [--candidates 12] [--convert 4] [override ...]

Per candidate: build the untrained tf_keras model, write its int8 .tflite (shape model; and, for
the first --convert candidates, the converter too, to compare), and measure it on the board
(the emulator by default).  Prints median and maximum seconds per step, and whether the two
.tflite files gave the same flash, RAM and latency.  Times depend on the machine's load (printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=12)
    ap.add_argument("--convert", type=int, default=4)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()

    import numpy as np
    import optuna

    from autotiny.compress import size_probe_tflite
    from autotiny.config import compose
    from autotiny.measure.backend import measure
    from autotiny.models import FAMILIES
    from autotiny.probe import shape_model
    from autotiny.space import load_space, suggest
    from autotiny.tasks import get_task

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = compose(args.overrides)
    task, space = get_task(cfg.task), load_space(cfg.search.space or cfg.task.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    times: dict[str, list[float]] = {"build": [], "shape model": [], "measure": [], "converter": []}
    same = []
    for i in range(args.candidates):
        spec = suggest(space, study.ask())
        shape = tuple(task.input_shape(spec))
        t = time.perf_counter()
        model = FAMILIES[spec.family].build(shape, task.n_outputs, spec.model_params, seed=0)
        times["build"].append(time.perf_counter() - t)
        t = time.perf_counter()
        fast = shape_model(model)
        times["shape model"].append(time.perf_counter() - t)
        t = time.perf_counter()
        m = measure(fast, cfg)
        times["measure"].append(time.perf_counter() - t)
        if i < args.convert:
            t = time.perf_counter()
            conv = size_probe_tflite(model, np.random.default_rng(0).normal(0, 10, (8, *shape)).astype(np.float32))
            times["converter"].append(time.perf_counter() - t)
            c = measure(conv, cfg)
            same.append((m.flash_bytes.value == c.flash_bytes.value, m.ram_bytes.value == c.ram_bytes.value,
                         m.latency_ms.value / c.latency_ms.value - 1))
    print(f"{args.candidates} candidates of search space {cfg.search.space or cfg.task.space}, board {cfg.board.name}, "
          f"backend {cfg.emulator.name}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'step':<12} {'n':>3} {'median s':>9} {'max s':>7}")
    for name, xs in times.items():
        if xs:
            print(f"{name:<12} {len(xs):>3} {statistics.median(xs):>9.3f} {max(xs):>7.3f}")
    pre = [b + s + m for b, s, m in zip(times["build"], times["shape model"], times["measure"])]
    print(f"pre-check (build + shape model + measure): median {statistics.median(pre):.3f} s, max {max(pre):.3f} s")
    for k, (flash, ram, lat) in enumerate(same):
        print(f"candidate {k}: converter vs shape model: flash {'equal' if flash else 'DIFFERS'}, "
              f"RAM {'equal' if ram else 'DIFFERS'}, latency {lat:+.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
