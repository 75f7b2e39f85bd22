"""Issue 8 defect 2: one board record, composed once, reaches every stage.

For each board field that matters, compose the config with an override and check that
every consumer sees it: the generated memory.ld, the built ELF (regions, symbols, vector
table, float ABI), the emulator's memory map and CPU, the fits check, the accounting
capacities, latency (clock) and energy (power).  The first group needs no cross compiler;
the second builds and runs the firmware."""

from __future__ import annotations

import re
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from autotiny import firmware
from autotiny.config import compose
from autotiny.errors import ModelError
from autotiny.measure import emulator
from tests.tflite_builder import pad_pool_model

KB = 1024
BASE = "stm32f746"  # 320 KB RAM, 1 MB flash, Cortex-M7 with FPU

needs_arm_gcc = pytest.mark.needs_arm_gcc


def board(*overrides: str):
    return compose([f"board={BASE}", *overrides]).board


def regions(ld: str) -> dict[str, tuple[int, int]]:
    return {m.group(1): (int(m.group(2), 16), int(m.group(3)))
            for m in re.finditer(r"(\w+)\s+\(\w+\)\s*:\s*ORIGIN = 0x([0-9A-F]+), LENGTH = (\d+)", ld)}


def stub_blob(arena: int = 1024, size: int = 1024):
    return SimpleNamespace(arena_size=arena, size=size, output_dtype=np.dtype(np.int8), output_shape=(1, 4),
                           source="stub.tflite")


# ---------------------------------------------------------------------------
# without the cross compiler: memory.ld, layout, flags, memory map, fits check


def test_ram_kb_reaches_linker_script_fits_check_and_memory_map():
    base, small = board(), board("board.ram_kb=128")
    ld = regions(firmware.memory_ld(small))
    assert ld["ARENA"] == (0x20006000, 128 * KB - 24 * KB)
    assert f"__ram_size = {128 * KB};" in firmware.memory_ld(small)
    assert firmware.layout(small).ram_size == 128 * KB
    assert emulator.memory_map(small).ram_size == 128 * KB
    fits_320_not_128 = stub_blob(arena=200 * KB)
    firmware.check_fits(fits_320_not_128, base)
    with pytest.raises(ModelError, match=r"does not fit stm32f746: arena 204,800 B > 106,496 B .*128 KB RAM"):
        firmware.check_fits(fits_320_not_128, small)


def test_flash_fields_reach_linker_script_fits_check_and_memory_map():
    b = board("board.flash_kb=512", "board.firmware_kb=128", "board.flash_base=0x00200000")
    ld = regions(firmware.memory_ld(b))
    assert ld["FLASH"] == (0x00200000, 128 * KB)
    assert ld["BLOB"] == (0x00200000 + 128 * KB, 384 * KB)
    mem = emulator.memory_map(b)
    assert (mem.flash_base, mem.flash_size) == (0x00200000, 512 * KB)
    # the blob region holds board.model_slots slots (A/B: 2 x 192 KB), each a 128 B slot header + the blob
    assert f"__slot_size = {192 * KB};" in firmware.memory_ld(b) and "__slot_count = 2;" in firmware.memory_ld(b)
    firmware.check_fits(stub_blob(size=192 * KB - 128), b)
    with pytest.raises(ModelError, match=r"blob 200,000 B \+ 128 B slot header > 196,608 B model slot"):
        firmware.check_fits(stub_blob(size=200_000), b)
    one = board("board.flash_kb=512", "board.firmware_kb=128", "board.model_slots=1")
    firmware.check_fits(stub_blob(size=200_000), one)
    firmware.check_fits(stub_blob(size=200_000), board())  # 2 x 384 KB slots on the real board


def test_ram_base_and_stack_kb_reach_linker_script():
    b = board("board.ram_base=0x20010000", "board.stack_kb=8")
    ld = regions(firmware.memory_ld(b))
    assert ld["STACK"] == (0x20010000, 8 * KB)
    assert ld["IO"][0] == 0x20010000 + 8 * KB and ld["ARENA"] == (0x20010000 + 16 * KB, 320 * KB - 16 * KB)
    assert emulator.memory_map(b).ram_base == 0x20010000
    assert firmware.layout(b).arena_region == 320 * KB - 16 * KB


def test_core_fpu_and_n_irq_reach_the_compiler_flags():
    assert firmware.board_flags(board()) == ("-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-mthumb",
                                             "-DAT_N_IRQ=98", "-DAT_CORE_M7", "-O3")
    m4 = board("board.core=cortex-m4", "board.fpu=fpv4-sp-d16", "board.n_irq=20", "board.opt_level=Os")
    assert firmware.board_flags(m4) == ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-mthumb",
                                        "-DAT_N_IRQ=20", "-Os")
    assert "-mfloat-abi=soft" in firmware.board_flags(board("board.fpu=null"))


def test_kernels_choose_the_linked_kernel_sets():
    assert firmware.kernel_sets(board()) == ("reference", "cortex_m_dsp")  # auto: the M7's DSP set
    assert firmware.kernel_sets(board("board.kernels=reference")) == ("reference",)
    assert firmware._hash(board()) != firmware._hash(board("board.kernels=reference"))
    from autotiny.errors import ConfigError

    with pytest.raises(ConfigError, match="board.kernels='neon' is not a kernel set: use auto or one of"):
        board("board.kernels=neon")


def test_clock_reaches_the_instruction_cap():
    fast, slow = board(), board("board.clock_hz=108000000")
    assert emulator.instruction_cap(slow, 10) - 100_000 == (emulator.instruction_cap(fast, 10) - 100_000) // 2


def test_unsupported_core_is_one_line():
    from autotiny.errors import ConfigError

    with pytest.raises(ConfigError, match="board.core=cortex-m33: no build/emulation target"):
        firmware.memory_ld(board("board.core=cortex-m33"))


# ---------------------------------------------------------------------------
# with the cross compiler: the ELF, the emulator, the measurement


def elf_facts(elf) -> dict:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        sp, reset = struct.unpack("<2I", e.get_section_by_name(".isr_vector").data()[:8])
        return {"sp": sp, "reset": reset, "flags": e.header["e_flags"],
                "vectors": e.get_section_by_name(".isr_vector")["sh_size"] // 4,
                "syms": {s.name: s["st_value"] for s in e.get_section_by_name(".symtab").iter_symbols()}}


@pytest.fixture(scope="module")
def base_run():
    b = board()
    return b, firmware.build(b), emulator.measure_emulated(pad_pool_model(16), b)


def run_ok(b, model: bytes | None = None):
    m = emulator.measure_emulated(model or pad_pool_model(16), b)
    assert m.status == "ok", m.fault
    return m


@needs_arm_gcc
def test_ram_kb_reaches_elf_emulator_fits_check_and_accounting(base_run):
    from autotiny import blob

    base, base_img, _ = base_run
    small = board("board.ram_kb=128")
    img = firmware.build(small)
    f = elf_facts(img.elf)
    assert f["syms"]["__ram_size"] == 128 * KB and f["syms"]["__arena_end"] == small.ram_base + 128 * KB
    assert img.elf != base_img.elf
    m = emulator.machine(small)
    assert m is not emulator.machine(base) and m.mem.ram_size == 128 * KB and m.elf == img.elf
    # a model that fits 320 KB but not 128 KB: runs on the board, refused on the override
    model = pad_pool_model(192)  # 147 KB arena
    assert 110 * KB < blob.from_tflite(model).arena_size < 290 * KB
    run_ok(base, model)
    refused = emulator.measure_emulated(model, small)
    assert refused.status == "infeasible" and "arena" in refused.fault and "128 KB RAM" in refused.fault
    acct = firmware.account(blob.from_tflite(pad_pool_model(16)), small, image=img)
    assert acct.ram_capacity == 128 * KB
    assert firmware.account(blob.from_tflite(pad_pool_model(16)), base, image=base_img).ram_capacity == 320 * KB


@needs_arm_gcc
def test_flash_fields_reach_elf_emulator_and_accounting(base_run):
    from autotiny import blob

    b = board("board.flash_kb=512", "board.firmware_kb=128", "board.flash_base=0x00200000")
    img = firmware.build(b)
    f = elf_facts(img.elf)
    assert 0x00200000 <= f["reset"] < 0x00200000 + 128 * KB
    assert f["syms"]["__blob_start"] == 0x00200000 + 128 * KB and f["syms"]["__blob_end"] == 0x00200000 + 512 * KB
    assert f["syms"]["__flash_size"] == 512 * KB
    m = emulator.machine(b)
    assert (m.mem.flash_base, m.mem.flash_size) == (0x00200000, 512 * KB)
    run_ok(b)  # the emulator writes the blob where this firmware reads it
    acct = firmware.account(blob.from_tflite(pad_pool_model(16)), b, image=img)
    assert acct.flash_capacity == 512 * KB


@needs_arm_gcc
def test_ram_base_and_stack_kb_reach_elf_and_emulator(base_run):
    _, _, base_m = base_run
    b = board("board.ram_base=0x20010000", "board.stack_kb=8")
    f = elf_facts(firmware.build(b).elf)
    assert f["sp"] == f["syms"]["__stack_top"] == 0x20010000 + 8 * KB
    assert f["syms"]["__arena_start"] == 0x20010000 + 16 * KB and f["syms"]["at_mb"] == 0x20010000 + 8 * KB
    m = emulator.machine(b)
    assert m.mem.ram_base == 0x20010000 and (m.stack_lo, m.stack_hi) == (0x20010000, 0x20010000 + 8 * KB)
    r = run_ok(b)
    assert r.peak_stack_bytes.value == base_m.peak_stack_bytes.value  # painted in the moved, smaller region


@needs_arm_gcc
def test_core_and_fpu_reach_build_and_emulator(base_run):
    base, base_img, base_m = base_run
    assert elf_facts(base_img.elf)["flags"] & 0x400  # EF_ARM_ABI_FLOAT_HARD
    m4 = board("board.core=cortex-m4", "board.fpu=fpv4-sp-d16")
    img = firmware.build(m4)
    assert "-mcpu=cortex-m4" in img.flags and "-DAT_CORE_M7" not in img.flags
    mach = emulator.machine(m4)
    assert mach.core == "cortex-m4" and mach.ppb[emulator.CPUID] == 0x410FC241
    assert run_ok(m4).cycles.value > base_m.cycles.value  # single issue: the M4 cycle table
    soft = board("board.fpu=null")
    f = elf_facts(firmware.build(soft).elf)
    assert not f["flags"] & 0x400  # soft-float ABI
    assert run_ok(soft).status == "ok"


@needs_arm_gcc
def test_n_irq_reaches_the_vector_table(base_run):
    _, base_img, _ = base_run
    assert elf_facts(base_img.elf)["vectors"] == 16 + 98
    b = board("board.n_irq=20")
    assert elf_facts(firmware.build(b).elf)["vectors"] == 16 + 20
    run_ok(b)


@needs_arm_gcc
def test_clock_and_power_reach_latency_and_energy(base_run):
    _, _, base_m = base_run
    slow = run_ok(board("board.clock_hz=108000000"))
    assert slow.cycles.value == base_m.cycles.value
    assert slow.latency_ms.value == pytest.approx(2 * base_m.latency_ms.value)
    p = board("board.active_power_mw=100")
    m = run_ok(p)
    assert m.energy_uj.value == pytest.approx(m.latency_ms.value * 100)
    assert m.energy_uj.assumption and "100 mW" in m.energy_uj.assumption  # still the YAML's assumed source
    cited = run_ok(board("board.active_power_source='DS10916 table 27: 100 mA x 3.3 V'"))
    assert cited.energy_uj.assumption is None and base_m.energy_uj.assumption
