"""Built-in emulator: measurements, faults (unmapped access, stack overflow, hard
fault, instruction cap, firmware errors), peak stack, per-layer cycles, speed."""

from __future__ import annotations

import subprocess
import time

import pytest

from autotiny import blob, firmware
from autotiny.config import compose
from autotiny.measure import emulator
from tests.tflite_builder import pad_pool_model

pytestmark = pytest.mark.needs_arm_gcc


def board(name: str, **update):
    b = compose([f"board={name}"]).board
    return b.model_copy(update=update) if update else b


def test_small_model_measurement_all_boards():
    model = pad_pool_model(16)
    for name in ("stm32f746", "nrf52840", "stm32l4r5"):
        bd = board(name)
        m = emulator.measure_emulated(model, bd)
        assert m.status == "ok" and m.fault is None and m.status_code == 0
        for fig in (m.flash_bytes, m.ram_bytes, m.latency_ms, m.energy_uj, m.cycles, m.instructions,
                    m.peak_stack_bytes):
            assert fig.source == "emulated" and fig.value > 0
        assert m.macs.source == "file"
        assert m.latency_ms.value == pytest.approx(m.cycles.value / bd.clock_hz * 1e3)
        assert m.energy_uj.value == pytest.approx(m.latency_ms.value * bd.active_power_mw)
        b = blob.from_tflite(model)
        img = firmware.build(bd)
        used = img.static_ram + b.arena_size + m.peak_stack_bytes.value
        assert m.ram_used_bytes.value == used and m.ram_used_bytes.source == "emulated"
        reserved = firmware.stack_reservation(int(m.peak_stack_bytes.value))
        assert m.ram_bytes.value == img.static_ram + b.arena_size + reserved > used
        assert m.flash_bytes.value == img.flash_image + bd.model_slots * (128 + b.size)  # every model slot
        assert 0 < m.peak_stack_bytes.value <= img.stack_estimate  # painted peak <= the static bound
        assert [(i, op) for i, op, _, _ in m.layers] == [(0, "PAD"), (1, "AVERAGE_POOL_2D")]
        assert sum(c for _, _, c, _ in m.layers) < m.cycles.value


def test_deterministic_and_reused_setup():
    model = blob.from_tflite(pad_pool_model(16))
    bd = board("stm32l4r5")
    a = emulator.emulate(model.data, bd)
    b = emulator.emulate(model.data, bd)
    assert (a.cycles, a.instructions, a.peak_stack_bytes) == (b.cycles, b.instructions, b.peak_stack_bytes)
    assert emulator.machine(bd) is emulator.machine(bd)


def test_m7_is_faster_per_cycle_than_m4():
    model = blob.from_tflite(pad_pool_model(32))
    m4 = emulator.emulate(model.data, board("stm32l4r5"))
    m7 = emulator.emulate(model.data, board("stm32f746"))
    assert m7.cycles < m4.cycles  # dual issue
    assert m4.instructions / m4.cycles < 1.0 < m7.instructions / m7.cycles + 0.5


def test_oversized_model_faults_at_end_of_ram():
    """Firmware linked for more RAM than the emulated chip has (a deliberately mismatched
    Machine: the pipeline never builds one, every stage reads the same board record): the
    arena runs past the end of RAM and the first write there faults, at exactly RAM's end."""
    real = board("nrf52840")
    mem = emulator.MemoryMap(real.flash_base, real.flash_kb * 1024, real.ram_base, 64 * 1024)
    small = emulator.Machine(real.core, mem, elf=firmware.build(real).elf)
    model = pad_pool_model(128)  # 64 KB padded tensor
    r = emulator.emulate(blob.from_tflite(model).data, real, on=small)
    end = real.ram_base + 64 * 1024
    assert not r.ok and r.output is None
    assert r.fault_address == end, r.fault
    assert "unmapped" in r.fault and f"{end:#010x}" in r.fault
    # with the board record saying 64 KB, every stage agrees: the firmware is linked for 64 KB
    # and the model is refused before it runs
    m = emulator.measure_emulated(model, board("nrf52840", ram_kb=64))
    assert m.status == "infeasible" and m.latency_ms.value == float("inf") and "arena" in m.fault
    # the same model on the real board runs
    assert emulator.emulate(blob.from_tflite(model).data, real).ok


def test_firmware_rejects_arena_larger_than_ram():
    model = pad_pool_model(256)  # 256 KB arena
    r = emulator.emulate(blob.from_tflite(model).data, board("nrf52840"))
    assert r.fault is None and r.status == 8 and r.status_name == "arena too small" and not r.ok
    # measure_emulated refuses it before running (firmware.check_fits), as an infeasible measurement
    m = emulator.measure_emulated(model, board("nrf52840"))
    assert m.status == "infeasible" and "arena" in m.fault and m.latency_ms.value == float("inf")


def test_stack_overflow_is_reported():
    """The real firmware started with only 48 bytes of stack: its pushes run off the
    bottom of RAM (stack at the bottom), and the emulator says so."""
    bd = board("stm32l4r5")
    m = emulator.machine(bd)
    m.write(m.symbols["__blob_start"], blob.from_tflite(pad_pool_model(16)).data)
    info = m.run(10_000_000, sp=bd.ram_base + 48)
    emulator.discard(m)
    assert info["fault"].startswith("stack overflow"), info["fault"]
    assert bd.ram_base - 64 <= info["fault_address"] < bd.ram_base


def test_instruction_cap():
    r = emulator.emulate(blob.from_tflite(pad_pool_model(16)).data, board("nrf52840"), max_instructions=5_000)
    assert not r.ok and "instruction cap" in r.fault
    assert 5_000 < r.instructions < 5_000 + 1_000  # stops at the first block past the cap
    m = emulator.measure_emulated(pad_pool_model(16), board("nrf52840"), max_instructions=5_000)
    assert m.status == "infeasible" and "instruction cap" in m.fault


def test_hard_fault(tmp_path):
    src = tmp_path / "udf.s"
    src.write_text(""".syntax unified
.thumb
.word 0x20001000
.word _start
.thumb_func
.global _start
_start:
  movs r0, #1
  udf #7
.thumb_func
.global autotiny_done
autotiny_done:
  b autotiny_done
""")
    elf = tmp_path / "udf.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-Wl,-Ttext=0x08000000",
                    "-Wl,-e,_start", "-o", str(elf), str(src)], check=True)
    m = emulator.Machine("cortex-m4", emulator.MemoryMap(0x08000000, 64 << 10, 0x20000000, 64 << 10), elf=elf)
    info = m.run(1000)
    assert info["fault"].startswith("hard fault: undefined instruction"), info["fault"]
    assert info["fault_pc"] == 0x0800000A


def test_kws_measurement(data_root):
    path = data_root / "mlperf_tiny" / "kws_ref_model_int8.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present")
    model = path.read_bytes()
    for name in ("stm32f746", "stm32l4r5"):
        bd = board(name)
        emulator.measure_emulated(model, bd)  # set-up + first run
        t0 = time.perf_counter()
        m = emulator.measure_emulated(model, bd)
        wall = time.perf_counter() - t0
        assert m.status == "ok"
        assert len(m.layers) == 13 and m.layers[0][1] == "CONV_2D" and m.layers[-1][1] == "SOFTMAX"
        assert 0.95 * m.cycles.value < sum(ly[2] for ly in m.layers) < m.cycles.value
        assert m.instructions.value > 2.66e6  # at least one instruction per MAC
        assert wall < 1.0, f"one KWS measurement took {wall:.2f} s (goal 0.5 s; bench/emulator_speed.py)"


def test_instruction_cap_from_latency_budget_and_table():
    bd = board("stm32l4r5")
    model = pad_pool_model(16)
    m = emulator.measure_emulated(model, bd)
    need = m.latency_ms.value
    cap = emulator.instruction_cap(bd, need, blob_bytes=blob.from_tflite(model).size)
    assert emulator.measure_emulated(model, bd, max_instructions=cap).status == "ok"
    tight = emulator.instruction_cap(bd, need / 100, margin=1.0) - 100_000
    assert emulator.measure_emulated(model, bd, max_instructions=max(tight, 1)).status == "infeasible"
    text = emulator.format_measurement(m, bd, "pad.tflite")
    assert "latency_ms" in text and "AVERAGE_POOL_2D" in text and "peak_stack_bytes" in text


def test_ram_used_and_reserved_reported_and_budgeted():
    """Issue 8 defect 5: measurement.json and `autotiny measure` show RAM used and reserved
    and the split; the budget check uses the reserved figure."""
    import json

    from autotiny.measure.backend import check_budget

    cfg = compose(["board=stm32l4r5"])
    m = emulator.measure_emulated(pad_pool_model(16), cfg.board)
    d = json.loads(json.dumps(m.to_dict()))
    split = d["ram"]
    assert set(split) == {"static", "io", "arena", "stack_peak", "stack_reserved", "used", "reserved"}
    assert split["stack_peak"] == m.peak_stack_bytes.value > 0
    assert split["stack_reserved"] == firmware.stack_reservation(split["stack_peak"]) > split["stack_peak"]
    assert split["used"] == d["ram_used_bytes"]["value"] == split["static"] + split["io"] + split["arena"] + \
        split["stack_peak"]
    assert split["reserved"] == d["ram_bytes"]["value"] == split["used"] - split["stack_peak"] + \
        split["stack_reserved"]
    text = emulator.format_measurement(m, cfg.board, "pad.tflite")
    assert f"ram_used_bytes   {split['used']:,} B" in text and f"ram_bytes        {split['reserved']:,} B" in text
    assert f"stack {split['stack_reserved']:,} (peak {split['stack_peak']:,}" in text
    # a budget between used and reserved: infeasible (the device must reserve more than the run touched)
    between = (split["used"] + split["reserved"]) / 2 / 1024
    check = check_budget(m, cfg.budget.model_copy(update={"ram_kb": between}), cfg.board)
    assert not check.feasible and "ram reserved" in check.reason and check.violations["ram_bytes"] > 0
    enough = check_budget(m, cfg.budget.model_copy(update={"ram_kb": split["reserved"] / 1024}), cfg.board)
    assert enough.feasible, enough.reason


def test_unmeasured_stack_says_so():
    """A model refused before running: RAM uses the -fstack-usage bound, and the notes say so."""
    bd = board("nrf52840")
    m = emulator.measure_emulated(pad_pool_model(256), bd)
    img = firmware.build(bd)
    assert m.status == "infeasible" and m.ram["stack_peak"] == img.stack_estimate
    assert m.ram["stack_reserved"] == firmware.stack_reservation(img.stack_estimate)
    assert any("not measured" in n for n in m.notes)


def test_energy_marks_assumed_power():
    """Issue 8 defect 7: stm32f746's active power is an assumption in its YAML; the energy
    figure carries that (Figure.assumption, in str() and in measurement.json)."""
    f7, l4 = board("stm32f746"), board("stm32l4r5")
    assert f7.assumption("active_power") and l4.assumption("active_power") is None
    m = emulator.measure_emulated(pad_pool_model(16), f7)
    assert m.energy_uj.assumption == f7.assumption("active_power") and "330 mW" in m.energy_uj.assumption
    assert "assumption" in str(m.energy_uj) and m.to_dict()["energy_uj"]["assumption"] == m.energy_uj.assumption
    assert m.latency_ms.assumption is None
    m4 = emulator.measure_emulated(pad_pool_model(16), l4)
    assert m4.energy_uj.assumption is None and "assumption" not in str(m4.energy_uj)


def test_a_figure_does_not_depend_on_what_ran_before():
    """The same model on the same board: the same cycles on a fresh machine, after other models, and again
    (the branch predictor starts cold on every run; it kept the last run's outcomes, a few cycles' worth)."""
    import numpy as np

    from tests.tflite_builder import ModelBuilder

    def fc(n_in: int, n_out: int) -> bytes:
        b = ModelBuilder()
        x = b.tensor((1, n_in), scale=0.1, zero_point=3)
        w = b.tensor((n_out, n_in), scale=0.01, zero_point=0,
                     data=np.random.default_rng(n_in).integers(-127, 128, (n_out, n_in), dtype=np.int8))
        y = b.tensor((1, n_out), scale=0.2, zero_point=-5)
        b.op("FULLY_CONNECTED", [x, w, -1], [y])
        return blob.from_tflite(b.build([x], [y])).data

    bd = board("stm32f746")
    target = blob.from_tflite(pad_pool_model(8)).data
    emulator.release()
    fresh = emulator.emulate(target, bd).cycles
    for other in (fc(33, 7), blob.from_tflite(pad_pool_model(16)).data, fc(5, 40)):
        emulator.emulate(other, bd)
        assert emulator.emulate(target, bd).cycles == fresh
