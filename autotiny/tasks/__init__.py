"""Tasks, registered by kind: `get_task(cfg.task)` returns the implementation a config names.

This package owns the registry (`TASKS`) and the interface (`autotiny.tasks.base.Task`); each
task is one module (kws.py: keyword spotting on Speech Commands; vision.py: MNIST / 8×8 digits /
a folder of images; activity.py: IMU windows from WATCH or a folder of recordings;
fault.py and anomaly.py: CWRU bearing vibration). Adding a task = one module
with a `Task` subclass and one entry here. Importing this package must stay cheap (no numpy,
no TensorFlow): task modules import their data loaders and front-ends inside their methods.
It must not know about any one task beyond this table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autotiny.errors import ConfigError
from autotiny.tasks.activity import ActivityClassification
from autotiny.tasks.anomaly import AnomalyDetection
from autotiny.tasks.base import Dataset, Task
from autotiny.tasks.fault import FaultClassification
from autotiny.tasks.kws import KeywordSpotting
from autotiny.tasks.vision import ImageClassification

if TYPE_CHECKING:
    from autotiny.config import Task as TaskSettings

TASKS: dict[str, type[Task]] = {
    KeywordSpotting.kind: KeywordSpotting,
    ImageClassification.kind: ImageClassification,
    ActivityClassification.kind: ActivityClassification,
    FaultClassification.kind: FaultClassification,
    AnomalyDetection.kind: AnomalyDetection,
}


def get_task(settings: TaskSettings) -> Task:
    """The task implementation for the `task:` config group (by `kind`, which defaults to `name`)."""
    kind = settings.kind or settings.name
    cls = TASKS.get(kind)
    if cls is None:
        key = "task.kind" if settings.kind else "task.name"
        raise ConfigError(f"{key}={kind}: no such task implementation; available: {', '.join(sorted(TASKS))} "
                          "(set task.kind to one of them, or add a module to autotiny/tasks/)")
    return cls(settings)


__all__ = ["TASKS", "Dataset", "Task", "get_task"]
