"""Measurement records and the backends that fill them.

Every figure carries its source, because users must know which numbers were measured:
  file       read off the .tflite itself (its size, its MAC count)
  tflm       TensorFlow Lite Micro's interpreter on this host (64-bit arena sizes)
  estimated  analytic: MACs × the board's cycles per MAC, × its active power
  emulated   run on an emulated board (the emulator issue)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Source = Literal["file", "tflm", "estimated", "emulated"]


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: Source
    # set when the figure rests on an assumed input rather than a cited one (e.g. energy from a
    # board's active power marked "assumption" in conf/board): what is assumed and why
    assumption: str | None = None

    def __str__(self) -> str:
        v = f"{self.value:,.0f}" if self.unit in ("B", "MAC", "cycles") else f"{self.value:,.3g}"
        if self.assumption:
            return f"{v} {self.unit} ({self.source}; assumption: {self.assumption})"
        return f"{v} {self.unit} ({self.source})"


@dataclass(frozen=True)
class Measurement:
    flash_bytes: Figure
    ram_bytes: Figure  # RAM a device must reserve (emulated: static + arena + stack reservation); budgets use it
    macs: Figure
    latency_ms: Figure
    energy_uj: Figure
    ops: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # filled by the emulator (autotiny.measure.emulator); None/empty elsewhere
    cycles: Figure | None = None
    instructions: Figure | None = None
    peak_stack_bytes: Figure | None = None
    ram_used_bytes: Figure | None = None  # static + arena + measured peak stack (what the run touched)
    # RAM split in bytes: static (.data+.bss), io (mailbox+output), arena, stack_peak, stack_reserved, used, reserved
    ram: dict[str, int] = field(default_factory=dict)
    layers: tuple[tuple[int, str, int, int], ...] = ()  # (op index, op name, cycles, instructions)
    status: str = "ok"  # "ok" or "infeasible" (fault, unmapped access, instruction cap, firmware error)
    status_code: int | None = None  # the firmware's status code (mailbox), when it ran
    fault: str | None = None  # why the run is infeasible
    # The device front-end (autotiny.frontends.device), when the candidate's front-end runs on the
    # device: what it adds to each headline figure above (latency, energy, flash and RAM are then
    # front-end + network; cycles, instructions and layers stay the network's), and its own cost.
    frontend_cycles: Figure | None = None
    frontend_latency_ms: Figure | None = None
    frontend_energy_uj: Figure | None = None
    frontend_ram_bytes: Figure | None = None
    frontend_flash_bytes: Figure | None = None
    frontend: dict = field(default_factory=dict)  # autotiny.frontends.device.FrontendCost.as_dict()

    def figures(self) -> dict[str, Figure]:
        return {k: getattr(self, k) for k in ("flash_bytes", "ram_bytes", "macs", "latency_ms", "energy_uj")}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BudgetCheck:
    feasible: bool
    violations: dict[str, float]  # figure → amount over budget (≤ 0 means within), for Optuna constraints
    reason: str  # empty when feasible
