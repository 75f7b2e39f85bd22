"""Searches as the jobs of a Hydra multirun. The one place autotiny uses `@hydra.main`: Hydra's
sweeper and launcher plugins (hydra-submitit-launcher's `submitit_local` and `submitit_slurm`, or any
other installed) run only inside Hydra's own multirun. Each job runs `autotiny search <that job's
overrides>` (autotiny.cli: the compose API and its one-line errors) in the job's process; Hydra's
config here only spreads the overrides over the jobs. Two uses:

- A sweep's workers: `python -m autotiny.launch --multirun <overrides> search.worker=0,1,…,N-1
  hydra/launcher=…`, started by the controller (autotiny.cluster) once it has created the study.
- Many studies: `autotiny search --multirun task=kws,vision board=stm32f746,nrf52840 …` (`multirun`
  below), one search per combination; each gets its own study, `search.study_name` being
  `${task.name}-${board.name}` unless set, so the same command again resumes every one of them.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from autotiny.config import compose, package_dir
from autotiny.errors import ConfigError

LAUNCH_PREFIXES = ("hydra/", "hydra.", "+hydra.", "~hydra.", "++hydra.")


def is_launch_override(override: str) -> bool:
    """hydra/launcher=submitit_slurm, hydra.launcher.partition=…: how workers start, not what they run."""
    return override.startswith(LAUNCH_PREFIXES)


def launcher_of(overrides: list[str]) -> str | None:
    """The launcher named by the overrides (hydra/launcher=NAME), if any."""
    named = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "hydra/launcher"]
    return named[-1] if named else None


@hydra.main(config_path=str(package_dir("conf")), config_name="config", version_base="1.3")
def search_job(_cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig

    from autotiny.cli import main

    overrides = list(HydraConfig.get().overrides.task)  # this job's overrides (hydra's own are not among them)
    code = main(["search", *overrides])
    if code != 0:  # Hydra reports a failed job after its batch ran; a sweep's controller counts the study
        raise RuntimeError(f"autotiny search {' '.join(overrides)} exited {code}")
    return code


def combinations(overrides: list[str]) -> list[list[str]]:
    """The searches a multirun's overrides stand for (Hydra's basic sweeper's expansion, its own code)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if not is_launch_override(o)])
        return [c for batch in BasicSweeper.split_arguments(parsed, None) for c in batch]
    except HydraException as e:
        raise ConfigError(str(e).strip().splitlines()[0]) from None


def multirun(overrides: list[str]) -> int:
    """`autotiny search --multirun …`: a search per combination of the comma-separated values, one after
    another (or as the jobs of hydra/launcher=…); Hydra's per-job files under outputs/multirun/."""
    import sys

    for combination in combinations(overrides):  # each one's bad key or value in one line, before any runs
        compose(combination)
    where = [] if any(o.split("=", 1)[0] == "hydra.sweep.dir" for o in overrides) else [
        "hydra.sweep.dir=outputs/multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}"]
    argv, sys.argv = sys.argv, [sys.argv[0], "--multirun", *where, *overrides]
    try:
        search_job()
    except SystemExit as e:  # Hydra exits 1 on a failed job or a bad override, after printing why
        return e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    return 0


if __name__ == "__main__":
    search_job()
