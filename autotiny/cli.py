"""`autotiny <command> [key=value ...]`: Hydra overrides in, one-line errors and exit 2 out."""

from __future__ import annotations

import sys

USAGE = """usage: autotiny <command> [key=value ...]

commands:
  search   run (or resume) a search study      autotiny search task=kws board=stm32f746 search.n_trials=40
           one study per combination (Hydra multirun)  autotiny search --multirun task=kws,vision board=stm32f746,nrf52840
  measure  measure one int8 .tflite on a board autotiny measure model=path/to/model.tflite board=nrf52840
  rebuild  build + train a trial's candidate again  autotiny rebuild record=outputs/kws-stm32f746/best/trial.json [out=DIR]
  ui       MLflow UI on the logged trials      autotiny ui [port=5000] [tracking.uri=sqlite:///mlruns/mlflow.db]
  report   one HTML page on a study's choice   autotiny report study=kws-stm32f746 [out=report.html] [overwrite=true]
  export   a trial's model as a firmware project, or an over-the-air update for an earlier export
           autotiny export study=kws-stm32f746 trial=3 [out=DIR] [version=1.0.0] [update_from=DIR] [overwrite=true]

Config groups (conf/): task, board, budget, search, tracking; any key can be overridden,
e.g. budget.ram_kb=64 budget.flash_kb=128 search.seed=3 data.max_per_class=50."""


def _search(overrides: list[str]) -> int:
    from autotiny.config import compose

    if overrides[:1] in (["-m"], ["--multirun"]):  # one search per combination (autotiny.launch)
        from autotiny.launch import multirun

        return multirun(overrides[1:])

    cfg = compose(overrides)  # validated before TensorFlow is imported (hydra/launcher=… by Hydra too)
    from autotiny.launch import launcher_of

    if launcher_of(overrides) and cfg.search.workers < 2:
        from autotiny.errors import ConfigError

        raise ConfigError(f"hydra/launcher={launcher_of(overrides)} starts the workers of a sweep: set "
                          f"search.workers=N (N > 1) and a PostgreSQL search.storage (README, 'Many workers')")
    from autotiny.results import format_table
    from autotiny.search import Search

    from autotiny.progress import SearchProgress

    progress = SearchProgress(cfg.search.n_trials, cfg.search.objectives)  # a live bar on a terminal, lines in a log
    search = Search(cfg, log=progress.log, progress=progress)
    progress.watch(lambda: search.runner.stage if search.runner is not None else "")
    if cfg.search.worker is not None:  # one of a sweep's workers: its controller reports the study
        outcome = search.run()
        print(f"worker {cfg.search.worker}: ran {len(outcome.run_states)} trials "
              f"({', '.join(sorted(set(outcome.run_states))) or 'none'})")
        return outcome.exit_code
    if cfg.tracking.enabled:
        print(f"MLflow: {search.tracker.uri} (browse it: autotiny ui)", flush=True)
    if cfg.search.workers > 1:
        from autotiny.cluster import sweep

        outcome = sweep(cfg, overrides)
    else:
        with progress:
            outcome = search.run()
    print()
    print(f"study {outcome.study_name}: {outcome.n_complete} feasible, {outcome.n_infeasible} over budget, "
          f"{outcome.n_failed} failed" + (f", {outcome.n_pruned} pruned" if outcome.n_pruned else ""))
    if outcome.pareto:
        print("Pareto front (feasible candidates; accuracy = int8 model):")
        print(format_table(outcome.pareto))
    else:
        print("no feasible candidate yet: loosen the budget or run more trials")
    if outcome.best:
        print(f"best: trial {outcome.best.number} → {outcome.output_dir / 'best' / 'model.tflite'}, "
              f"model.h and trial.json (rebuild it: autotiny rebuild record={outcome.output_dir / 'best' / 'trial.json'})")
    if outcome.tracking_uri:
        print(f"MLflow UI: autotiny ui tracking.uri={outcome.tracking_uri}")
    if outcome.interrupted:
        print("interrupted: run the same command again to resume the study", file=sys.stderr)
    elif outcome.exit_code == 1:
        print(f"autotiny: error: all {len(outcome.run_states)} trials of this run failed; their reasons are above "
              f"and in the study's trial attributes", file=sys.stderr)
    return outcome.exit_code


def _measure(args: list[str]) -> int:
    from pathlib import Path

    from autotiny.config import compose
    from autotiny.errors import ConfigError

    models = [a.split("=", 1)[1] for a in args if a.startswith("model=")]
    if len(models) != 1:
        raise ConfigError("measure needs exactly one model=path/to/model.tflite")
    cfg = compose([a for a in args if not a.startswith("model=")])
    from autotiny.errors import ModelError
    from autotiny.measure.backend import check_budget, ensure_available, measure

    path = Path(models[0])
    if path.is_dir():
        raise ModelError(f"model={path}: is a folder; give the path of an int8 .tflite file")
    if not path.is_file():
        raise ModelError(f"model={path}: no such file")
    ensure_available(cfg)
    try:
        m = measure(path.read_bytes(), cfg)
    except ModelError as e:  # the parsers see bytes, not the path: every error names the file
        msg = str(e).replace("<bytes>", str(path))
        raise ModelError(msg if str(path) in msg else f"model={path}: {msg}") from None
    check = check_budget(m, cfg.budget, cfg.board)
    if cfg.emulator.name == "builtin":
        from autotiny.measure.emulator import format_measurement

        print(format_measurement(m, cfg.board, str(path)))
    else:
        print(f"{path} on {cfg.board.name} ({cfg.board.core}, {cfg.board.clock_hz / 1e6:g} MHz)")
        for name, fig in m.figures().items():
            print(f"  {name:12s} {fig}")
        print("  ops         " + ", ".join(f"{k}×{v}" for k, v in m.ops.items()))
        for note in m.notes:
            print(f"  note: {note}")
    print("  budget: " + ("fits" if check.feasible else f"over: {check.reason}"))
    return 0 if check.feasible else 1


def _rebuild(args: list[str]) -> int:
    from autotiny.rebuild import main as rebuild

    return rebuild(args)


COMMANDS = {"search": _search, "measure": _measure, "rebuild": _rebuild,
            "ui": lambda args: __import__("autotiny.ui").ui.main(args),
            "report": lambda args: __import__("autotiny.report").report.main(args),
            "export": lambda args: __import__("autotiny.export").export.main(args)}


def main(argv: list[str] | None = None) -> int:
    import os

    # Before anything imports TensorFlow (tflite_micro and LiteRT may): Keras 2 for tfmot, quiet C++ logs.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from autotiny.errors import AutotinyError

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"autotiny: unknown command '{cmd}'; available: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[cmd](rest)
    except AutotinyError as e:
        print(f"autotiny: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autotiny: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def entry() -> None:
    """The `autotiny` command: main(), then exit without tearing down every imported module.

    By then every result is committed and every file closed; Python's own teardown of MLflow,
    SQLAlchemy and Optuna takes ~2 s, which a user who pressed Ctrl-C would wait through."""
    import logging
    import os

    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
