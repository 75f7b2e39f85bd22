"""The task seam: tasks are chosen by name from the config, and a new task is a new module.

A toy task defined here (random features of a fixed shape, 3 classes, its own dataset object)
runs a whole candidate through autotiny.trial.run_candidate with emulator=estimate while the
keyword-spotting modules (Speech Commands, the feature cache, the audio front-ends, the KWS
task) cannot be imported.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from autotiny.config import Task as TaskSettings
from autotiny.config import compose
from autotiny.errors import ConfigError
from autotiny.tasks import TASKS, Task, get_task

KWS_MODULES = ("autotiny.tasks.kws", "autotiny.data", "autotiny.data.speech_commands", "autotiny.data.cache",
               "autotiny.frontends", "autotiny.frontends.mfcc")


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg, msg
    return msg


# ---- the registry ---------------------------------------------------------------------------------

def test_config_names_the_kws_task():
    task = get_task(compose([]).task)
    assert task.kind == "kws" and task.name == "kws"
    assert task.n_outputs == 12 and task.classes[-2:] == ["_silence_", "_unknown_"]


def test_unknown_task_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        get_task(compose(["task.kind=asr"]).task)
    available = ", ".join(sorted(TASKS))  # kws, vision, ... every registered task
    assert "kws" in TASKS and "vision" in TASKS
    assert _one_line(err).startswith(f"task.kind=asr: no such task implementation; available: {available}")
    # without a kind, the name picks the implementation
    with pytest.raises(ConfigError) as err:
        get_task(TaskSettings(name="asr", dataset="librispeech", space="asr", classes=["a", "b"]))
    assert _one_line(err).startswith(f"task.name=asr: no such task implementation; available: {available}")


def test_kws_task_refuses_a_dataset_it_cannot_read():
    with pytest.raises(ConfigError) as err:
        get_task(compose(["task.dataset=cifar10"]).task)
    assert _one_line(err) == "task.dataset=cifar10: the kws task reads speech_commands, folder"


def test_two_task_configs_can_share_one_implementation():
    settings = TaskSettings(name="kws_small", kind="kws", dataset="speech_commands", space="kws",
                            classes=["yes", "no", "_silence_", "_unknown_"])
    task = get_task(settings)
    assert type(task) is TASKS["kws"] and task.name == "kws_small" and task.n_outputs == 4


def test_kws_describes_its_candidates(tiny_space):
    import optuna

    from autotiny.space import load_space, suggest

    spec = suggest(load_space(str(tiny_space)), optuna.trial.FixedTrial({"model.n_blocks": 1, "model.channels": 8}))
    assert get_task(compose([]).task).describe(spec) == "ds_cnn b1 c8 k10x4 s2x2 | mfcc w30 m40 c10 | ep2 lr0.005 bs32"


# ---- a toy task: a new module's worth of code -------------------------------------------------------

SHAPE = (12, 6)


@dataclasses.dataclass(frozen=True)
class NoFrontend:
    """The toy's features need no front-end; a candidate still carries a params record."""


class ToyData:
    """The dataset protocol: a root and the files it reads (none: it is generated)."""

    def __init__(self, root: Path, seed: int):
        self.root, self.seed = root, seed

    def files(self) -> list[Path]:
        return []

    def split(self, split: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, ("train", "val", "test").index(split)])
        n = {"train": 96, "val": 30, "test": 30}[split]
        y = np.arange(n) % n_classes
        x = rng.normal(0.0, 1.0, size=(n, *SHAPE)).astype(np.float32) + 2.0 * y[:, None, None]  # learnable
        return x, y.astype(np.int64)


class ToyTask(Task):
    kind = "toy"
    loss = "sparse_categorical_crossentropy"
    metric = "accuracy"

    def data_root(self, cfg):
        return Path(cfg.data.cache_dir)

    def dataset(self, cfg, root=None):
        return ToyData(self.data_root(cfg) if root is None else root, cfg.data.seed)

    def input_shape(self, spec):
        return SHAPE

    def features(self, dataset, spec, split, cache_dir):
        return dataset.split(split, self.n_outputs)

    def score(self, model, features, labels):
        from autotiny.evaluate import score

        return score(model, features, labels, self.n_outputs)

    def describe_frontend(self, spec):
        return f"random{'x'.join(map(str, SHAPE))}"


@pytest.fixture()
def toy_cfg(monkeypatch, tmp_path):
    monkeypatch.setitem(TASKS, "toy", ToyTask)
    cfg = compose(["emulator=estimate", f"data.cache_dir={tmp_path / 'cache'}"])
    toy = TaskSettings(name="toy3", kind="toy", dataset="random", space="none", classes=["a", "b", "c"])
    return cfg.model_copy(update={"task": toy})


def _toy_spec():
    from autotiny.models.ds_cnn import DsCnnParams
    from autotiny.space import CandidateSpec, TrainingSpec

    return CandidateSpec(frontend="none", frontend_params=NoFrontend(), family="ds_cnn",
                         model_params=DsCnnParams(n_blocks=1, channels=8, first_kernel=(3, 3), first_stride=(1, 1)),
                         training=TrainingSpec(epochs=3, learning_rate=0.01, batch_size=32), quantization="int8_ptq")


def test_a_toy_task_runs_a_candidate_without_any_kws_code(toy_cfg, tmp_path, monkeypatch):
    from autotiny.pipeline import TaskData
    from autotiny.tf_env import tf_keras
    from autotiny.trial import run_candidate

    tf_keras()  # TensorFlow itself is allowed; it is slow to import under a blocked module
    for name in KWS_MODULES:  # importing any of these now raises ImportError
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError):
        from autotiny.data.cache import cached_features  # noqa: F401
    data = TaskData(toy_cfg)
    assert isinstance(data.task, ToyTask) and isinstance(data.dataset, ToyData)
    rec = run_candidate(_toy_spec(), toy_cfg, data, number=0, trial_dir=tmp_path / "trial", seed=0)
    assert rec.state == "complete", rec.reason
    # the base Task describes the family with its sampled parameters
    assert rec.description.startswith("ds_cnn n_blocks=") and rec.description.endswith(" | random12x6 | ep3 lr0.01 bs32")
    assert rec.trained and 0.0 <= rec.metrics["test_accuracy"] <= 1.0
    assert rec.figures["flash_bytes"].value > 0 and rec.figures["ram_bytes"].value > 0
    assert (tmp_path / "trial" / "model.tflite").is_file() and (tmp_path / "trial" / "confusion_matrix.png").is_file()

    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=(tmp_path / "trial" / "model.tflite").read_bytes())
    assert list(interp.get_input_details()[0]["shape"]) == [1, *SHAPE, 1]
    assert list(interp.get_output_details()[0]["shape"]) == [1, 3]


def test_toy_task_goes_through_the_preflight_data_check(toy_cfg, tmp_path):
    from autotiny.preflight import check_run

    cfg = toy_cfg.model_copy(update={"search": toy_cfg.search.model_copy(update={
        "studies_dir": str(tmp_path / "studies"), "output_dir": str(tmp_path / "out"), "study_name": "t"}),
        "tracking": toy_cfg.tracking.model_copy(update={"enabled": False})})
    assert isinstance(check_run(cfg), ToyData)
