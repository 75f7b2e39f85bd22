"""Instruction-set targets: what is specific to a CPU family, behind one interface.

A `Target` answers everything the build and the emulator must know about a core and
nothing about a board's memory: compiler and flags, FPU flags, startup and linker files,
the Unicorn CPU model, the CPUID value, the cycle table.  The board record
(`autotiny.config.Board`) names its core; `target(board.core)` picks the module.

Adding an instruction set (RISC-V, say) = one new module here registered in TARGETS,
its startup/linker files under firmware/boards/, its cycle tables under emulation/cycles/.
"""

from __future__ import annotations

from autotiny.errors import ConfigError
from autotiny.targets.cortex_m import CORTEX_M4, CORTEX_M7, CortexM

Target = CortexM  # the one family today; a second family implements the same attributes

TARGETS: dict[str, Target] = {t.core: t for t in (CORTEX_M4, CORTEX_M7)}


def target(core: str) -> Target:
    """The target for a board's `core`; a one-line ConfigError for a core nothing supports yet."""
    try:
        return TARGETS[core]
    except KeyError:
        raise ConfigError(f"board.core={core}: no build/emulation target for this core yet; "
                          f"supported: {', '.join(TARGETS)}") from None


__all__ = ["TARGETS", "Target", "target"]
