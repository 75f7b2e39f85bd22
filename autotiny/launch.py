"""A sweep's workers as a Hydra multirun: `python -m autotiny.launch --multirun <overrides>
search.worker=0,1,…,N-1 hydra/launcher=…`, started by the controller (autotiny.cluster) once it has
created the study.

This is the one place autotiny uses `@hydra.main`: Hydra's launcher plugins (hydra-submitit-launcher's
`submitit_local` and `submitit_slurm`, or any other installed) run only inside Hydra's own multirun.
Each job is one worker, and does exactly what a plain worker process does: `autotiny search <the
user's overrides> search.worker=i` (autotiny.cli, the compose API and its one-line errors), in the
job's process. Hydra's config here only spreads the worker index over the jobs.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from autotiny.config import package_dir

LAUNCH_PREFIXES = ("hydra/", "hydra.", "+hydra.", "~hydra.", "++hydra.")


def is_launch_override(override: str) -> bool:
    """hydra/launcher=submitit_slurm, hydra.launcher.partition=…: how workers start, not what they run."""
    return override.startswith(LAUNCH_PREFIXES)


def launcher_of(overrides: list[str]) -> str | None:
    """The launcher named by the overrides (hydra/launcher=NAME), if any."""
    named = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "hydra/launcher"]
    return named[-1] if named else None


@hydra.main(config_path=str(package_dir("conf")), config_name="config", version_base="1.3")
def worker(_cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig

    from autotiny.cli import main

    overrides = list(HydraConfig.get().overrides.task)  # the user's overrides and this job's search.worker=i
    code = main(["search", *overrides])
    if code != 0:  # the launcher reports a failed job; the controller counts what the study holds
        raise RuntimeError(f"autotiny search {' '.join(overrides)} exited {code}")
    return code


if __name__ == "__main__":
    worker()
