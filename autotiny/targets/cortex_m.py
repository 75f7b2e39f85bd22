"""Arm Cortex-M (Thumb-2, ARMv7E-M): cross compiler, CPU/FPU flags, startup and linker
files, Unicorn CPU model, CPUID, cycle tables.

Knows nothing about a board's memory sizes or addresses (those come from the board
record, `autotiny.config.Board`) and nothing about models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autotiny.config import package_dir


@dataclass(frozen=True)
class CortexM:
    core: str  # the board config's `core` (gcc's -mcpu name)
    unicorn_cpu: str  # unicorn.arm_const name of the CPU model
    cpuid: int  # SCB CPUID register value (r0pX of the core)
    issue_width: int  # instructions per cycle at most (the M7 dual-issues)
    defines: tuple[str, ...] = ()  # core-specific firmware code (-DAT_CORE_M7: switch the L1 caches on)
    # The fastest kernel set this core runs (firmware/kernels/<set>/); board.kernels=auto picks it.
    # ARMv7E-M's DSP extension (SMLAD, SXTB16, SSAT) is on the M4 and M7, not on the M0+.
    fast_kernels: str = "reference"

    compiler: str = "arm-none-eabi-gcc"
    isa: str = "thumb"  # disassembler mode of the cycle model (autotiny.measure.cycles)

    @property
    def family(self) -> str:
        return "cortex-m"

    def display_name(self, fpu: str | None) -> str:
        """'Cortex-M7', 'Cortex-M4F' (the M4 with its optional FPU), for reports."""
        name = "Cortex-" + self.core.split("-", 1)[1].upper()
        return name + ("F" if fpu and self.core == "cortex-m4" else "")

    def cpu_flags(self, fpu: str | None) -> tuple[str, ...]:
        """gcc flags for compiling and linking: core, FPU (hard-float ABI) or soft float."""
        float_abi = ("-mfpu=" + fpu, "-mfloat-abi=hard") if fpu else ("-mfloat-abi=soft",)
        return (f"-mcpu={self.core}", *float_abi, "-mthumb")

    def firmware_defines(self, n_irq: int) -> tuple[str, ...]:
        return (f"-DAT_N_IRQ={n_irq}", *self.defines)

    @property
    def startup(self) -> Path:
        return package_dir("firmware") / "boards" / "startup.c"

    @property
    def linker_script(self) -> Path:
        """The SECTIONS part; MEMORY comes from memory.ld, generated from the board record."""
        return package_dir("firmware") / "boards" / "cortex_m.ld"

    @property
    def cycle_table(self) -> Path:
        return package_dir("emulation") / "cycles" / f"{self.core}.yaml"


CORTEX_M4 = CortexM(core="cortex-m4", unicorn_cpu="UC_CPU_ARM_CORTEX_M4", cpuid=0x410FC241, issue_width=1,
                    fast_kernels="cortex_m_dsp")
CORTEX_M7 = CortexM(core="cortex-m7", unicorn_cpu="UC_CPU_ARM_CORTEX_M7", cpuid=0x411FC270, issue_width=2,
                    defines=("-DAT_CORE_M7",), fast_kernels="cortex_m_dsp")
