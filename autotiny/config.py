"""Typed run configuration: Hydra composes conf/, pydantic validates it.

Imports neither TensorFlow nor Optuna, so a bad config fails in well under a second.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autotiny.errors import ConfigError

Core = Literal["cortex-m4", "cortex-m7", "cortex-m33", "cortex-m0plus"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Board(_Strict):
    """THE board record: composed once (conf/board/<name>.yaml + overrides) and passed down.

    The firmware's linker script, its build cache key, the fits check, the RAM/flash
    accounting, the emulator's memory map, latency (clock) and energy (power) all read
    this object; nothing downstream re-reads the YAML.  Instruction-set facts (compiler
    flags, Unicorn model, cycle tables) live in `autotiny.targets`, chosen by `core`.
    A `*_source` that starts with "assumption" marks its figure as an assumption
    (`assumption()`), and every figure computed from it says so."""

    name: str
    core: Core
    clock_hz: int = Field(gt=0)
    flash_kb: int = Field(gt=0)
    flash_base: int = Field(ge=0)
    ram_kb: int = Field(gt=0)
    ram_base: int = Field(ge=0)
    firmware_kb: int = Field(default=256, gt=0)
    stack_kb: int = Field(default=16, gt=0)  # stack region the firmware links (bottom of RAM; measurement headroom)
    # Deploy: model slots the blob region is cut into for over-the-air updates (2 = A/B; firmware/runtime/slots.h).
    # The flash figure budgets use counts every slot (autotiny.firmware.account).
    model_slots: int = Field(default=2, ge=1, le=8)
    # Firmware build: the kernel set (firmware/kernels/<set>/; "auto" = the fastest set the core
    # has, autotiny.targets) and gcc's optimisation level, chosen per board by measurement.
    kernels: str = "auto"
    opt_level: Literal["O2", "O3", "Os"] = "O2"
    n_irq: int = Field(gt=0, le=496)
    fpu: str | None = None
    active_power_mw: float = Field(gt=0)
    active_power_source: str
    cycles_per_mac: float = Field(gt=0)
    cycles_per_mac_source: str

    @field_validator("flash_base", "ram_base", mode="before")
    @classmethod
    def _address(cls, v):
        """Addresses may be written in hex on the command line too (board.ram_base=0x20010000:
        Hydra passes it as a string; YAML already reads 0x... as an integer)."""
        if isinstance(v, str):
            try:
                return int(v.replace("_", ""), 0)
            except ValueError:
                pass
        return v

    @field_validator("kernels")
    @classmethod
    def _kernel_set(cls, v: str) -> str:
        sets = sorted(p.name for p in (package_dir("firmware") / "kernels").iterdir() if p.is_dir())
        if v != "auto" and v not in sets:
            raise ValueError(f"board.kernels={v!r} is not a kernel set: use auto or one of {', '.join(sets)}")
        return v

    @model_validator(mode="after")
    def _firmware_leaves_room(self) -> Board:
        if self.firmware_kb >= self.flash_kb:
            raise ValueError(f"board.firmware_kb={self.firmware_kb} leaves no flash for the model blob "
                             f"(flash_kb={self.flash_kb})")
        if self.stack_kb + 8 >= self.ram_kb:  # + 8 KB: mailbox/output buffer and static data (firmware.py)
            raise ValueError(f"board.stack_kb={self.stack_kb} leaves no RAM for the arena (ram_kb={self.ram_kb})")
        return self

    def assumption(self, figure: str) -> str | None:
        """Why `figure` ('active_power' or 'cycles_per_mac') is an assumption, or None when
        its source cites a measurement or a datasheet (the source does not start with 'assumption')."""
        source: str = getattr(self, f"{figure}_source")
        if not source.strip().lower().startswith("assumption"):
            return None
        value = getattr(self, figure if figure != "active_power" else "active_power_mw")
        unit = " mW" if figure == "active_power" else ""
        why = source.strip()[len("assumption"):].lstrip(" :-")
        return f"{self.name} {figure.replace('_', ' ')} {value:g}{unit}: {why}"


class Budget(_Strict):
    """Hard limits; None means the board's whole memory (ram/flash) or no limit."""

    ram_kb: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    flash_kb: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    ram_fraction: float = Field(default=1.0, gt=0, le=1)
    flash_fraction: float = Field(default=1.0, gt=0, le=1)
    # finite: inf would pass `gt=0` and then overflow the instruction cap; null already means no limit
    latency_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    energy_uj: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    def ram_bytes(self, board: Board) -> int:
        kb = self.ram_kb if self.ram_kb is not None else board.ram_kb * self.ram_fraction
        return int(kb * 1024)

    def flash_bytes(self, board: Board) -> int:
        kb = self.flash_kb if self.flash_kb is not None else board.flash_kb * self.flash_fraction
        return int(kb * 1024)


class Costs(_Strict):
    """What a wrong decision costs (autotiny.decisions.cost_matrix): a confusion true t ->
    predicted p costs miss[t] + false_alarm[p] (unnamed classes: miss 1, false alarm 0), or
    `matrix` [true][predicted] in task.classes order."""

    miss: dict[str, float] = Field(default_factory=dict)
    false_alarm: dict[str, float] = Field(default_factory=dict)
    matrix: list[list[float]] | None = None

    @field_validator("miss", "false_alarm", mode="before")
    @classmethod
    def _none_is_empty(cls, v):
        return {} if v is None else v  # the YAML default is null: Hydra cannot override an empty mapping


class Noise(_Strict):
    """Field noise (autotiny.noise): augmentation of training clips and the SNRs candidates are
    evaluated and selected at.  `enabled: false` trains and evaluates on clean clips only."""

    enabled: bool = True
    train_prob: float = Field(default=0.8, ge=0, le=1)  # share of training clips that get noise
    train_volume: tuple[float, float] = (0.0, 0.1)  # noise amplitude gain, uniform (MLPerf Tiny recipe)
    train_snr_db: tuple[float, float] | None = None  # instead of volume: SNR uniform in this range
    time_shift_ms: float = Field(default=100, ge=0)
    eval_snr_db: list[float] = Field(default_factory=lambda: [20.0, 10.0, 5.0, 0.0])
    field_snr_db: float | None = 10.0  # selection and decisions use this SNR (null: clean)
    val_draws: int = Field(default=4, ge=1)  # noise draws per validation clip at each SNR (test: one per clip)

    @model_validator(mode="after")
    def _consistent(self) -> Noise:  # ConfigError, not ValueError: the message names its keys itself
        lo, hi = self.train_volume
        if not 0 <= lo <= hi:
            raise ConfigError(f"task.noise.train_volume=[{lo}, {hi}]: need 0 <= low <= high")
        if self.train_snr_db is not None and self.train_snr_db[0] > self.train_snr_db[1]:
            raise ConfigError(f"task.noise.train_snr_db={list(self.train_snr_db)}: need low <= high")
        if self.field_snr_db is not None and self.field_snr_db not in self.eval_snr_db:
            raise ConfigError(f"task.noise.field_snr_db={self.field_snr_db:g} is not one of task.noise.eval_snr_db "
                             f"{self.eval_snr_db}: add it there, or use null for clean")
        return self


class Task(_Strict):
    """The `task:` group. `kind` picks the implementation (autotiny.tasks.TASKS; defaults to `name`),
    so two task configs can share one; that implementation checks `dataset` and reads the data."""

    name: str
    kind: str | None = None
    dataset: str = Field(min_length=1)
    space: str
    classes: list[str] = Field(min_length=2)
    channels: int | None = Field(default=None, ge=1)  # time-series tasks: values per time step (sensor axes)
    costs: Costs = Field(default_factory=Costs)
    noise: Noise = Field(default_factory=Noise)

    @model_validator(mode="after")
    def _costs_name_the_classes(self) -> Task:
        from autotiny.decisions import cost_matrix

        cost_matrix(self.costs, self.classes)  # raises a one-line ConfigError
        return self


class DataSettings(_Strict):
    root: str | None = None
    url: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    download_dir: str
    cache_dir: str
    max_per_class: int | None = Field(default=None, gt=0)
    val_pct: float = Field(default=10, gt=0, lt=50)
    test_pct: float = Field(default=10, gt=0, lt=50)
    seed: int = 0


class SearchSettings(_Strict):
    study_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    n_trials: int = Field(gt=0)
    timeout_s: float | None = Field(default=None, gt=0)
    sampler: Literal["tpe", "nsga2", "random"] = "tpe"
    seed: int = 0
    storage: str | None = None
    studies_dir: str = "studies"
    output_dir: str
    space: str | None = None
    objectives: list[Literal["accuracy", "auc", "cost", "flash", "ram", "latency", "energy"]] = Field(min_length=1)
    repeat_candidates: bool = False  # false: a candidate already answered reuses that result (small spaces)
    max_retries: int = Field(default=1, ge=0)  # a failed trial is retried on later runs, this many times
    runner: Literal["process", "inline"] = "process"  # process: trials in a worker the search can always stop
    # Many workers on one study (autotiny.cluster): `workers` processes started by this command, or
    # `worker` set on a process that joins a study its controller already created.
    workers: int = Field(default=1, ge=1)
    worker: int | None = Field(default=None, ge=0)
    # Optuna's heartbeat: a trial whose worker stopped beating for grace_s is failed and re-queued
    heartbeat_s: int = Field(default=30, gt=0)
    grace_s: int = Field(default=120, gt=0)
    # Stopping unpromising trials between epochs (autotiny.pruning)
    pruner: Literal["none", "median", "hyperband"] = "none"
    prune_fraction: float = Field(default=0.5, gt=0, le=1)
    prune_startup: int = Field(default=5, ge=1)
    prune_warmup_epochs: int = Field(default=1, ge=0)
    # A short first run on a share of the training data, judged like an epoch before full training
    first_fidelity: float = Field(default=0.0, ge=0, lt=1)  # that share; 0: off
    first_fidelity_epochs: int = Field(default=1, ge=1)
    # Seeds and variance (autotiny.repeats): the top repeat_top Pareto candidates trained again with `repeats` seeds
    repeats: int = Field(default=0, ge=0)
    repeat_top: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _pruning_needs_accuracy(self) -> SearchSettings:  # ConfigError: the message names its keys
        if self.pruner != "none" and "accuracy" not in self.objectives:
            raise ConfigError(f"search.pruner={self.pruner} compares validation accuracy between epochs: it needs "
                             f"accuracy among search.objectives (now {list(self.objectives)}), or search.pruner=none")
        if self.first_fidelity and "accuracy" not in self.objectives:
            raise ConfigError(f"search.first_fidelity={self.first_fidelity:g} compares validation accuracy: it needs "
                             f"accuracy among search.objectives (now {list(self.objectives)}), or "
                             "search.first_fidelity=0")
        return self

    @property
    def judges_training(self) -> bool:
        """Does the search decide during training (between epochs, or after the first-fidelity run)?"""
        return self.pruner != "none" or self.first_fidelity > 0

    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{Path(self.studies_dir).resolve() / (self.study_name + '.db')}"


class TrackingSettings(_Strict):
    uri: str
    artifact_dir: str
    experiment: str = Field(min_length=1)
    enabled: bool = True


class EmulatorSettings(_Strict):
    """How candidates are measured: `builtin` emulates the firmware, `estimate` is analytic."""

    name: Literal["builtin", "estimate"]
    max_instructions: int | None = Field(default=None, gt=0)


class RunConfig(_Strict):
    task: Task
    board: Board
    budget: Budget
    search: SearchSettings
    tracking: TrackingSettings
    data: DataSettings
    emulator: EmulatorSettings

    @model_validator(mode="after")
    def _budget_fits_board(self) -> RunConfig:
        b, board = self.budget, self.board
        if b.ram_kb is not None and b.ram_kb > board.ram_kb:
            raise ValueError(f"budget.ram_kb={b.ram_kb:g} exceeds {board.name}'s RAM of {board.ram_kb} KB")
        if b.flash_kb is not None and b.flash_kb > board.flash_kb:
            raise ValueError(
                f"budget.flash_kb={b.flash_kb:g} exceeds {board.name}'s flash of {board.flash_kb} KB")
        return self

    @model_validator(mode="after")
    def _workers_share_a_server(self) -> RunConfig:
        s = self.search
        if s.grace_s <= s.heartbeat_s:
            raise ValueError(f"search.grace_s={s.grace_s} must exceed search.heartbeat_s={s.heartbeat_s} "
                             f"(a live worker would be taken for dead)")
        if s.workers > 1 and s.storage_url().startswith("sqlite"):
            raise ValueError(f"search.workers={s.workers} needs a database server the workers share: set "
                             f"search.storage=postgresql://USER@127.0.0.1:5432/DB (SQLite serves one worker; "
                             f"README, 'Many workers')")
        return self


# ---- locating packaged config -------------------------------------------------------------

CHECKOUT = Path(__file__).resolve().parent.parent  # the repository root, when running from a checkout


def package_dir(name: str) -> Path:
    """A top-level folder of the repo (conf, search_spaces, firmware, emulation): beside the
    package in a checkout, shipped inside the wheel (autotiny/<name> or autotiny/assets/<name>)."""
    checkout = CHECKOUT / name
    if (CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    root = Path(str(resources.files("autotiny")))
    for shipped in (root / name, root / "assets" / name):
        if shipped.is_dir():
            return shipped
    raise ConfigError(f"cannot find the {name}/ folder (looked in {checkout} and {root})")


def cache_root() -> Path:
    """Build products and caches: $AUTOTINY_CACHE, else .cache/autotiny in a checkout, else ~/.cache."""
    import os

    if os.environ.get("AUTOTINY_CACHE"):
        return Path(os.environ["AUTOTINY_CACHE"])
    if (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / ".cache" / "autotiny"
    return Path.home() / ".cache" / "autotiny"


def load_board(name: str) -> Board:
    """One board's record straight from conf/board/<name>.yaml (no Hydra: cheap, for tools)."""
    import yaml

    path = package_dir("conf") / "board" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"board={name}: unknown board; available: {', '.join(group_options('board'))}")
    try:
        return Board.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as err:
        raise ConfigError(f"{path}: {_one_line(err)}") from None


GROUPS = ("task", "board", "budget", "search", "tracking", "emulator")


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (package_dir("conf") / group).glob("*.yaml"))


# ---- compose + validate -------------------------------------------------------------------

def _one_line(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    if e["type"] == "extra_forbidden":
        return f"unknown key '{loc}'"
    if e["type"] == "missing":
        return f"missing key '{loc}'"
    if e.get("input") == "???":  # a mandatory value its config group leaves open (e.g. a folder's classes)
        return f"{loc} has no value: set it on the command line ({loc}=...)"
    if not loc:  # model-level validator
        return e["msg"].removeprefix("Value error, ")
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "finite_number":
        msg += " (use null for no limit)"
    return f"{loc}={e.get('input')!r}: {msg}"


def validate(raw: dict) -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_one_line(err)) from None


def split_options(args: list[str], names: tuple[str, ...], command: str) -> tuple[dict[str, str], list[str]]:
    """A command's own `name=value` options (e.g. report's study=, out=) apart from the Hydra
    overrides that follow them; an option given twice is a one-line error."""
    opts: dict[str, str] = {}
    rest = []
    for a in args:
        key = a.split("=", 1)[0]
        if key in names and "=" in a:
            if key in opts:
                raise ConfigError(f"{command}: give {key}= once")
            opts[key] = a.split("=", 1)[1]
        else:
            rest.append(a)
    return opts, rest


def compose(overrides: list[str]) -> RunConfig:
    """Hydra compose API (not @hydra.main) so every error becomes our one-line ConfigError."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        if "=" not in o:
            raise ConfigError(f"override '{o}' must look like key=value (e.g. board=nrf52840)")
        if key in GROUPS:
            value = o.split("=", 1)[1]
            options = group_options(key)
            if value not in options:
                raise ConfigError(f"{key}={value}: unknown {key}; available: {', '.join(options)}")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=overrides)
        raw = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_hydra_message(e)) from None
    finally:
        GlobalHydra.instance().clear()
    return validate(raw)


def _hydra_message(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0]
    # "Could not override 'budget.ram_kbb'." + "Key 'ram_kbb' is not in struct" on the next lines
    if "Could not override" in msg or "not in struct" in str(e):
        key = msg.split("'")[1] if "'" in msg else msg
        group = key.split(".")[0]
        hint = ""
        if group in (*GROUPS, "data"):
            hint = f"; valid keys under {group}: {', '.join(_keys_of(group))}"
        return f"unknown key '{key}'{hint} (use +{key}=... only for new keys)"
    return msg


def _keys_of(group: str) -> list[str]:
    model = RunConfig.model_fields[group].annotation
    return list(model.model_fields)  # type: ignore[union-attr]
