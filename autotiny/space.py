"""Declarative search spaces: YAML → validated SearchSpace → CandidateSpec per Optuna trial.

A parameter is a fixed value, `{choices: [...]}`, or a range `{low, high, step?, log?}`
(integer when low and high are integers). Names in Optuna are dotted: `model.channels`.
The model section names one family (`type` + `params`) or several (`families: {name: params}`):
then the family is itself a choice (`model.family`) and each family's parameters are
conditional on it, named `model.<family>.<param>` so the sampler models them apart.  The
front-end section may list several types the same way (`frontend.type`, `frontend.<type>.<param>`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Protocol, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autotiny.errors import ConfigError

Scalar = Union[bool, int, float, str]
Value = Union[Scalar, list]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    choices: list[Value] = Field(min_length=1)


class Range(_Strict):
    low: float
    high: float
    step: float | None = None
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low={self.low:g} is above high={self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError("log ranges need low > 0")
        return self

    def is_int(self, raw: dict) -> bool:
        return isinstance(raw.get("low"), int) and isinstance(raw.get("high"), int) and not isinstance(
            raw.get("step", 1), float)


class Section(_Strict):
    """A named implementation (front-end type, model family) and its parameters, or (model only)
    several families, each with its own parameters."""

    type: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    families: dict[str, dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Section:
        if (self.type is None) == (self.families is None):
            raise ValueError("give either type (with params) or families, not both or neither")
        if self.families is not None and (self.params or not self.families):
            raise ValueError("families: a mapping of family name -> its params (and no params beside it)")
        return self

    def choices(self) -> dict[str, dict[str, Any]]:
        """family/type name -> its parameter definitions."""
        return dict(self.families) if self.families is not None else {self.type: self.params}


class TrainingSpace(_Strict):
    epochs: Any = 10
    learning_rate: Any = 0.003
    batch_size: Any = 64


class CompressionSpace(_Strict):
    quantization: Any = "int8_ptq"
    sparsity: Any = 0.0  # magnitude pruning: the fraction of each layer's weights set to zero


class SearchSpace(_Strict):
    frontend: Section
    model: Section
    training: TrainingSpace = TrainingSpace()
    compression: CompressionSpace = CompressionSpace()
    source: str = ""


# What each mode changes on the device: README "Compression".  int8_ptq and int8_qat give the same
# int8 graph (QAT changes the weights, not the layout); int16x8 the same graph with int16 activations
# (autotiny.compress.to_int16x8_tflite); the others are refused with the reason.
QUANTIZATION_MODES = ("int8_ptq", "int8_qat", "int16x8")
NOT_YET = {
    "int8_pruned": "pruning is compression.sparsity (0 = dense; e.g. {choices: [0.0, 0.5, 0.75]}), beside "
                   "any quantization mode",
}
# The largest share of a layer's weights magnitude pruning may zero (a layer pruned further rarely
# keeps its accuracy, and the sparse encoding's bitmask alone is an eighth of the weights).
MAX_SPARSITY = 0.95


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    epochs: int
    learning_rate: float
    batch_size: int


@dataclasses.dataclass(frozen=True)
class CandidateSpec:
    """Everything needed to build, train and compress one candidate."""

    frontend: str
    frontend_params: Any  # the front-end's params dataclass
    family: str
    model_params: Any  # the family's params dataclass
    training: TrainingSpec
    quantization: str
    sparsity: float = 0.0  # magnitude pruning (autotiny.compress.pruned_model); 0 = dense

    def flat(self) -> dict[str, Any]:
        """Dotted, scalar parameters for MLflow and trial attributes."""
        out: dict[str, Any] = {"frontend.type": self.frontend, "model.family": self.family,
                               "compression.quantization": self.quantization,
                               "compression.sparsity": self.sparsity}
        for prefix, obj in (("frontend", self.frontend_params), ("model", self.model_params),
                            ("training", self.training)):
            for k, v in dataclasses.asdict(obj).items():
                out[f"{prefix}.{k}"] = v
        return out

    def to_dict(self) -> dict[str, Any]:
        """Nested and JSON-able: what a trial record stores so the model can be rebuilt."""
        return {"frontend": {"type": self.frontend, "params": dataclasses.asdict(self.frontend_params)},
                "model": {"family": self.family, "params": dataclasses.asdict(self.model_params)},
                "training": dataclasses.asdict(self.training),
                "compression": {"quantization": self.quantization, "sparsity": self.sparsity}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CandidateSpec:
        """The inverse of `to_dict` (lists back to tuples); ConfigError names what is missing."""
        from autotiny.frontends import get_frontend
        from autotiny.models import FAMILIES

        try:
            fe, model, training = d["frontend"], d["model"], d["training"]
            family = FAMILIES.get(model["family"])
            if family is None:
                raise ConfigError(f"candidate: unknown model family {model['family']!r}; "
                                  f"available: {', '.join(sorted(FAMILIES))}")
            return cls(frontend=fe["type"],
                       frontend_params=_build_params(get_frontend(fe["type"]).params_type, fe["params"],
                                                     "candidate.frontend.params"),
                       family=model["family"],
                       model_params=_build_params(
                           family.params_type,
                           {k: tuple(v) if isinstance(v, list) else v for k, v in model["params"].items()},
                           "candidate.model.params"),
                       training=_build_params(TrainingSpec, training, "candidate.training"),
                       quantization=d["compression"]["quantization"],
                       sparsity=float(d["compression"].get("sparsity", 0.0)))  # records before pruning: dense
        except (KeyError, TypeError) as e:
            raise ConfigError(f"candidate: missing or malformed entry {e}") from None


# ---- loading -------------------------------------------------------------------------------

def _resolve_path(name_or_path: str) -> Path:
    from autotiny.config import package_dir

    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return package_dir("search_spaces") / f"{name_or_path}.yaml"


def load_space(name_or_path: str) -> SearchSpace:
    """Load and validate a space; errors name the file and the entry."""
    path = _resolve_path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"search space '{name_or_path}' not found (looked for {path})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with frontend, model, training, compression")
    try:
        space = SearchSpace.model_validate({**raw, "source": str(path)})
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(x) for x in e["loc"])
        what = "unknown entry" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}: {loc}: {what}") from None
    _check_space(space, path)
    return space


def _param_def(raw: Any, where: str) -> Choice | Range | Value:
    if isinstance(raw, dict):
        try:
            if "choices" in raw:
                return Choice.model_validate(raw)
            return Range.model_validate(raw)
        except ValidationError as err:
            e = err.errors()[0]
            key = ".".join(str(x) for x in e["loc"])
            raise ConfigError(f"{where}{'.' + key if key else ''}: {e['msg'].removeprefix('Value error, ')}"
                              " (a parameter is a value, {choices: [...]} or {low, high, step?, log?})") from None
    return raw


def _check_space(space: SearchSpace, path: Path) -> None:
    """Every parameter must exist in its implementation, and every value must be accepted."""
    from autotiny.frontends import FRONTENDS
    from autotiny.models import FAMILIES

    sections = (("frontend", space.frontend, FRONTENDS), ("model", space.model, FAMILIES))
    for name, section, registry in sections:
        many = section.families is not None
        for kind, params in section.choices().items():
            where = f"{name}.families.{kind}" if many else f"{name}.type"
            if kind not in registry:
                raise ConfigError(f"{path}: {where}: unknown '{kind}'; available: {', '.join(registry)}")
            fields = [f.name for f in dataclasses.fields(registry[kind].params_type)]
            for key, raw in (params or {}).items():
                at = f"{name}.families.{kind}.{key}" if many else f"{name}.params.{key}"
                if key not in fields:
                    raise ConfigError(f"{path}: {at}: unknown parameter of {kind}; valid: {', '.join(fields)}")
                _param_def(raw, f"{path}: {at}")
    for key in ("epochs", "learning_rate", "batch_size"):
        _param_def(getattr(space.training, key), f"{path}: training.{key}")
    q = _param_def(space.compression.quantization, f"{path}: compression.quantization")
    for mode in (q.choices if isinstance(q, Choice) else [q]):
        if mode in NOT_YET:
            raise ConfigError(f"{path}: compression.quantization: {mode} is not available: {NOT_YET[mode]}; "
                              f"available: {', '.join(QUANTIZATION_MODES)}")
        if mode not in QUANTIZATION_MODES:
            raise ConfigError(f"{path}: compression.quantization: unknown mode '{mode}'; "
                              f"available: {', '.join(QUANTIZATION_MODES)}")
    sp = _param_def(space.compression.sparsity, f"{path}: compression.sparsity")
    values = sp.choices if isinstance(sp, Choice) else [sp.low, sp.high] if isinstance(sp, Range) else [sp]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= MAX_SPARSITY:
            raise ConfigError(f"{path}: compression.sparsity: {v!r} is not a fraction of weights to prune; "
                              f"valid: a number from 0 (dense) to {MAX_SPARSITY}")


# ---- sampling ------------------------------------------------------------------------------

class Suggester(Protocol):
    """Anything with Optuna's suggest_* methods (a Trial, FixedTrial, or a test double)."""

    def suggest_categorical(self, name: str, choices: list) -> Any: ...  # pragma: no cover
    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int: ...  # pragma: no cover
    def suggest_float(self, name: str, low: float, high: float, step: float | None = None,
                      log: bool = False) -> float: ...  # pragma: no cover


def _suggest(trial: Suggester, name: str, raw: Any) -> Any:
    d = _param_def(raw, name)
    if isinstance(d, Choice):
        # Optuna stores only scalars: lists (kernel sizes) travel as JSON strings.
        encoded = [json.dumps(c) if isinstance(c, list) else c for c in d.choices]
        picked = trial.suggest_categorical(name, encoded)
        return json.loads(picked) if isinstance(picked, str) and picked.startswith("[") else picked
    if isinstance(d, Range):
        if d.is_int(raw):
            return trial.suggest_int(name, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
        return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    return d  # fixed value: not a search dimension


def _build_params(params_type: type, values: dict, where: str) -> Any:
    try:
        return params_type(**values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def suggest(space: SearchSpace, trial: Suggester) -> CandidateSpec:
    from autotiny.frontends import FRONTENDS
    from autotiny.models import FAMILIES

    frontends = space.frontend.choices()
    if space.frontend.families is not None:  # the front-end type is a choice too, its params conditional
        fe_type = _suggest(trial, "frontend.type", {"choices": list(frontends)})
        fe_prefix = f"frontend.{fe_type}."
    else:
        fe_type, fe_prefix = space.frontend.type, "frontend."
    fe = {k: _suggest(trial, fe_prefix + k, v) for k, v in (frontends[fe_type] or {}).items()}
    families = space.model.choices()
    if space.model.families is not None:
        family = _suggest(trial, "model.family", {"choices": list(families)})
        prefix = f"model.{family}."
    else:
        family, prefix = space.model.type, "model."
    mp = {k: _suggest(trial, prefix + k, v) for k, v in (families[family] or {}).items()}
    tr = space.training
    training = TrainingSpec(
        epochs=int(_suggest(trial, "training.epochs", tr.epochs)),
        learning_rate=float(_suggest(trial, "training.learning_rate", tr.learning_rate)),
        batch_size=int(_suggest(trial, "training.batch_size", tr.batch_size)))
    fe_params = _build_params(FRONTENDS[fe_type].params_type, fe, "frontend.params")
    model_params = _build_params(FAMILIES[family].params_type,
                                 {k: tuple(v) if isinstance(v, list) else v for k, v in mp.items()},
                                 "model.params")
    quant = _suggest(trial, "compression.quantization", space.compression.quantization)
    sparsity = float(_suggest(trial, "compression.sparsity", space.compression.sparsity))
    return CandidateSpec(frontend=fe_type, frontend_params=fe_params,
                         family=family, model_params=model_params,
                         training=training, quantization=quant, sparsity=sparsity)


