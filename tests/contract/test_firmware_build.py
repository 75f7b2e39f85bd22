"""ARM firmware per board: builds with arm-none-eabi-gcc (-Wall -Wextra -Werror),
vector table and fixed addresses as documented, memory accounting, and the
fit check that refuses oversized models before anything runs."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from autotiny import blob, firmware
from autotiny.config import compose, group_options
from autotiny.errors import ModelError
from tests.tflite_builder import ModelBuilder, options

pytestmark = pytest.mark.needs_arm_gcc


@pytest.fixture(scope="module", params=group_options("board"))
def image(request):
    return firmware.build(compose([f"board={request.param}"]).board)


def _symbols(elf):
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        e = ELFFile(f)
        vec = e.get_section_by_name(".isr_vector")
        words = struct.unpack("<2I", vec.data()[:8])
        syms = {s.name: s["st_value"] for s in e.get_section_by_name(".symtab").iter_symbols()}
        flags = e.header["e_flags"]
    return words, syms, flags


def test_firmware_layout(image):
    b = image.layout
    assert b == firmware.layout(image.board)
    (sp, reset), syms, flags = _symbols(image.elf)
    assert sp == b.ram_origin + b.stack_region == 0x20004000  # stack at the bottom of RAM, growing down
    assert reset & 1 and b.flash_origin <= reset < b.flash_origin + b.firmware_region
    assert syms["at_mb"] == 0x20004000 and syms["__arena_start"] == b.arena_origin == 0x20006000
    assert syms["__arena_end"] == b.ram_origin + b.ram_size == syms["__ram_size"] + b.ram_origin
    assert syms["__blob_start"] == b.blob_origin and syms["__blob_end"] == b.blob_origin + b.blob_region
    for name in ("autotiny_layer_boundary", "autotiny_done", "at_output", "main"):
        assert name in syms
    assert not any(n.startswith("__aeabi_d") for n in syms), "double-precision soft-float pulled in"
    assert flags & 0x400  # EF_ARM_ABI_FLOAT_HARD
    # a sanity bound, not a budget: the -O3 Cortex-M7 build with the DSP kernels is ~32.2 KB of code
    assert 2_000 < image.text < 40_000 and image.static_ram <= 8 * 1024
    assert 0 < image.stack_estimate < b.stack_region  # the static bound fits the stack the firmware links


def test_build_is_cached(image):
    again = firmware.build(image.board)
    assert again.board == image.board and again.layout == image.layout
    assert again.elf == image.elf and again.text == image.text


def _model(arena_side: int) -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, arena_side, arena_side, 8), scale=0.1, zero_point=0)
    w = b.tensor((1, 3, 3, 8), scale=[0.01] * 8, zero_point=[0] * 8, quantized_dimension=3,
                 data=np.ones((1, 3, 3, 8), np.int8))
    bias = b.tensor((8,), "INT32", scale=[0.001] * 8, zero_point=[0] * 8, data=np.zeros(8, np.int32))
    y = b.tensor((1, arena_side, arena_side, 8), scale=0.1, zero_point=0)
    b.op("DEPTHWISE_CONV_2D", [x, w, bias], [y],
         options("DepthwiseConv2DOptionsT", padding=0, strideH=1, strideW=1, depthMultiplier=1,
                 dilationHFactor=1, dilationWFactor=1))
    return b.build([x], [y])


def test_memory_accounting(image):
    mb = blob.from_tflite(_model(8))
    mb_out = 8 * 8 * 8
    acct = firmware.account(mb, image.board, image)
    assert acct.arena == mb.arena_size == 2 * mb_out
    assert acct.ram_used == image.data + image.bss + image.io + mb.arena_size + image.stack_estimate
    assert acct.stack_reserved == firmware.stack_reservation(image.stack_estimate) > image.stack_estimate
    assert acct.ram == acct.ram_reserved == acct.ram_used - acct.peak_stack + acct.stack_reserved
    slot = 128 + mb.size  # every model slot holds a slot header + the blob (autotiny.slots)
    assert acct.flash == image.text + image.data + image.board.model_slots * slot
    assert acct.fits and not acct.stack_measured
    assert acct.ram_capacity == image.board.ram_kb * 1024 and acct.flash_capacity == image.board.flash_kb * 1024
    firmware.check_fits(mb, image.board, image)


def test_stack_reservation_rule():
    """peak + 25 % + 256 B, rounded up to 8 B (firmware.STACK_MARGIN; README says the same)."""
    assert firmware.stack_reservation(0) == 256
    assert firmware.stack_reservation(240) == 560  # 240 + 60 + 256
    assert firmware.stack_reservation(1001) == 1512  # 1001 + 251 + 256 = 1508 -> 1512
    assert all(firmware.stack_reservation(p) % 8 == 0 and firmware.stack_reservation(p) >= p * 1.25 + 256
               for p in range(0, 5000, 7))


def test_oversized_model_refused_with_figures(image):
    b = image.layout
    big = blob.from_tflite(_model(200), source="big.tflite")  # 2 x 320 KB activations
    assert big.arena_size > b.arena_region
    with pytest.raises(ModelError, match=rf"big\.tflite does not fit {image.board.name}: arena {big.arena_size:,} B > "):
        firmware.check_fits(big, image.board, image)
    small = blob.from_tflite(_model(8))
    firmware.check_fits(small, image.board, image)


# ---------------------------------------------------------------------------
# Smoke run of the ARM build in Unicorn (no timing: the cycle-accurate
# emulator is a separate piece).  Checks that the firmware reads the blob from
# its flash region, finds the input at the arena start, marks every layer,
# and that its outputs equal the host library's, float I/O included.

def _run_in_unicorn(image, blob_bytes: bytes, x: np.ndarray):
    unicorn = pytest.importorskip("unicorn")
    from elftools.elf.elffile import ELFFile
    from unicorn import arm_const

    b = image.layout
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
    uc.ctl_set_cpu_model(unicorn.arm_const.UC_CPU_ARM_CORTEX_M7 if image.board.core == "cortex-m7"
                         else unicorn.arm_const.UC_CPU_ARM_CORTEX_M4)
    uc.mem_map(b.flash_origin, b.flash_size)
    uc.mem_map(b.ram_origin, b.ram_size)
    uc.mem_map(0xE0000000, 0x100000)  # system control space (CPACR)
    with open(image.elf, "rb") as f:
        e = ELFFile(f)
        for seg in e.iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                uc.mem_write(seg["p_paddr"], seg.data())
        syms = {s.name: s["st_value"] for s in e.get_section_by_name(".symtab").iter_symbols()}
    uc.mem_write(b.blob_origin, blob_bytes)
    uc.mem_write(b.arena_origin, np.ascontiguousarray(x).tobytes())
    sp, pc = struct.unpack("<2I", uc.mem_read(b.flash_origin, 8))
    uc.reg_write(arm_const.UC_ARM_REG_SP, sp)
    marks = []
    at = syms["autotiny_layer_boundary"] & ~1
    uc.hook_add(unicorn.UC_HOOK_CODE, lambda u, a, s, d: marks.append(
        (u.reg_read(arm_const.UC_ARM_REG_R0), u.reg_read(arm_const.UC_ARM_REG_R2))), begin=at, end=at)
    uc.emu_start(pc | 1, syms["autotiny_done"] & ~1, count=200_000_000)
    mb = struct.unpack("<16I", uc.mem_read(syms["at_mb"], 64))
    status, out_addr, out_size = mb[1], mb[8], mb[9]
    out = bytes(uc.mem_read(out_addr, out_size)) if status == 0 else b""
    return status, out, marks, mb


def _every_op_model() -> bytes:
    """float in -> QUANTIZE -> PAD -> CONV -> DW(x2) -> MAX_POOL -> AVG_POOL -> ADD(broadcast
    constant) -> CONCATENATION -> MEAN -> RESHAPE -> FC -> QUANTIZE(int8->int8) -> SOFTMAX -> DEQUANTIZE -> float out."""
    rng = np.random.default_rng(5)
    b = ModelBuilder()

    def q(shape, s, z):
        return b.tensor(shape, scale=s, zero_point=z)

    xf = b.tensor((1, 6, 6, 2), "FLOAT32")
    x = q((1, 6, 6, 2), 0.03, 4)
    b.op("QUANTIZE", [xf], [x], options("QuantizeOptionsT"))
    pads = b.tensor((4, 2), "INT32", data=np.array([[0, 0], [1, 1], [0, 2], [0, 0]], np.int32))
    xp = q((1, 8, 8, 2), 0.03, 4)
    b.op("PAD", [x, pads], [xp], options("PadOptionsT"))
    w1 = b.tensor((4, 3, 3, 2), scale=[0.01, 0.02, 0.03, 0.015], zero_point=[0] * 4,
                  data=rng.integers(-127, 128, (4, 3, 3, 2)))
    b1 = b.tensor((4,), "INT32", scale=[0.0003, 0.0006, 0.0009, 0.00045], zero_point=[0] * 4,
                  data=rng.integers(-2000, 2000, 4))
    c1 = q((1, 8, 8, 4), 0.05, -10)
    b.op("CONV_2D", [xp, w1, b1], [c1], options("Conv2DOptionsT", padding=0, strideH=1, strideW=1,
                                                  dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1))
    w2 = b.tensor((1, 3, 3, 8), scale=list(np.linspace(0.01, 0.03, 8)), zero_point=[0] * 8, quantized_dimension=3,
                  data=rng.integers(-127, 128, (1, 3, 3, 8)))
    b2 = b.tensor((8,), "INT32", scale=list(np.float32(0.05) * np.linspace(0.01, 0.03, 8).astype(np.float32)),
                  zero_point=[0] * 8, data=rng.integers(-2000, 2000, 8))
    c2 = q((1, 4, 4, 8), 0.08, 3)
    b.op("DEPTHWISE_CONV_2D", [c1, w2, b2], [c2],
         options("DepthwiseConv2DOptionsT", padding=0, strideH=2, strideW=2, depthMultiplier=2,
                 dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=3))
    mp = q((1, 4, 4, 8), 0.08, 3)
    b.op("MAX_POOL_2D", [c2], [mp], options("Pool2DOptionsT", padding=0, strideH=1, strideW=1,
                                             filterHeight=2, filterWidth=2))
    ap = q((1, 2, 2, 8), 0.08, 3)
    b.op("AVERAGE_POOL_2D", [mp], [ap], options("Pool2DOptionsT", padding=1, strideH=2, strideW=2,
                                                 filterHeight=2, filterWidth=2))
    k = b.tensor((1, 1, 1, 8), scale=0.04, zero_point=-2, data=rng.integers(-128, 128, (1, 1, 1, 8)))
    ad = q((1, 2, 2, 8), 0.1, -1)
    b.op("ADD", [ap, k], [ad], options("AddOptionsT", fusedActivationFunction=0))
    extra = b.tensor((1, 2, 2, 3), scale=0.1, zero_point=-1, data=rng.integers(-128, 128, (1, 2, 2, 3)))
    cat = q((1, 2, 2, 11), 0.1, -1)
    b.op("CONCATENATION", [ad, extra], [cat], options("ConcatenationOptionsT", axis=3))
    axes = b.tensor((2,), "INT32", data=np.array([1, 2], np.int32))
    mn = q((1, 1, 1, 11), 0.07, 0)
    b.op("MEAN", [cat, axes], [mn], options("ReducerOptionsT", keepDims=True))
    shp = b.tensor((2,), "INT32", data=np.array([1, 11], np.int32))
    rs = q((1, 11), 0.07, 0)
    b.op("RESHAPE", [mn, shp], [rs], options("ReshapeOptionsT", newShape=[1, 11]))
    w3 = b.tensor((5, 11), scale=0.02, zero_point=0, data=rng.integers(-127, 128, (5, 11)))
    b3 = b.tensor((5,), "INT32", scale=float(np.float32(0.07) * np.float32(0.02)), zero_point=0,
                  data=rng.integers(-500, 500, 5))
    fc = q((1, 5), 0.2, 7)
    b.op("FULLY_CONNECTED", [rs, w3, b3], [fc], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    rq = q((1, 5), 0.15, -3)
    b.op("QUANTIZE", [fc], [rq], options("QuantizeOptionsT"))
    sm = q((1, 5), 1 / 256, -128)
    b.op("SOFTMAX", [rq], [sm], options("SoftmaxOptionsT", beta=1.0))
    yf = b.tensor((1, 5), "FLOAT32")
    b.op("DEQUANTIZE", [sm], [yf], options("DequantizeOptionsT"))
    return b.build([xf], [yf])


def test_arm_build_matches_host_build(image):
    from autotiny import runtime
    from tests.tflite_builder import run_tflm

    model = _every_op_model()
    mb = blob.from_tflite(model)
    int8_ops = {n for n, op in blob.BLOB_OPS.items() if not (op.int16 or op.sparse)}  # sparse: test_sparse_blob.py
    assert set(blob.load_blob(mb.data).op_names) == int8_ops  # every int8 blob op code appears
    host = runtime.HostModel(mb)
    rng = np.random.default_rng(0)
    for k in range(4):
        x = ((rng.integers(-150, 150, (1, 6, 6, 2)) + rng.choice([0.0, 0.5, -0.5], (1, 6, 6, 2))) * 0.03
             ).astype(np.float32)
        expected = host.run(x)
        assert expected.tobytes() == run_tflm(model, x).tobytes()
        status, out, marks, box = _run_in_unicorn(image, mb.data, x)
        assert status == 0, blob.STATUS_NAMES.get(status, status)
        assert out == expected.tobytes()
        assert marks == [(i, p) for i in range(len(mb.op_names)) for p in (0, 1)]
        assert box[0] == 0x424D5441 and box[5] == len(mb.op_names)  # magic, n_ops


def test_firmware_rejects_a_corrupted_blob(image):
    data = bytearray(blob.from_tflite(_every_op_model()).data)
    data[-6] ^= 0x40
    status, _, marks, _ = _run_in_unicorn(image, bytes(data), np.zeros(72, np.float32))
    assert status == 4 and not marks  # CRC mismatch, nothing ran
    status, _, _, _ = _run_in_unicorn(image, b"\xff" * 256, np.zeros(72, np.float32))
    assert status == 1  # bad magic (empty flash region)


def _every_16x8_op_model() -> bytes:
    """float in -> QUANTIZE (int16) -> CONV -> DW -> MAX_POOL -> AVG_POOL -> ADD(broadcast constant)
    -> MEAN -> RESHAPE -> FC -> SOFTMAX -> DEQUANTIZE -> float out, all in 16x8."""
    rng = np.random.default_rng(6)
    b = ModelBuilder()

    def q(shape, s):
        return b.tensor(shape, "INT16", scale=s, zero_point=0)

    xf = b.tensor((1, 6, 6, 2), "FLOAT32")
    x = q((1, 6, 6, 2), 1e-4)
    b.op("QUANTIZE", [xf], [x], options("QuantizeOptionsT"))
    w1 = b.tensor((4, 3, 3, 2), scale=[0.01, 0.02, 0.03, 0.015], zero_point=[0] * 4,
                  data=rng.integers(-127, 128, (4, 3, 3, 2)))
    b1 = b.tensor((4,), "INT64", scale=[1e-6, 2e-6, 3e-6, 1.5e-6], zero_point=[0] * 4,
                  data=rng.integers(-20000, 20000, 4))
    c1 = q((1, 6, 6, 4), 3e-4)
    b.op("CONV_2D", [x, w1, b1], [c1], options("Conv2DOptionsT", padding=0, strideH=1, strideW=1,
                                                 dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1))
    w2 = b.tensor((1, 3, 3, 8), scale=list(np.linspace(0.01, 0.03, 8)), zero_point=[0] * 8, quantized_dimension=3,
                  data=rng.integers(-127, 128, (1, 3, 3, 8)))
    b2 = b.tensor((8,), "INT64", scale=[3e-6] * 8, zero_point=[0] * 8, data=rng.integers(-2000, 2000, 8))
    c2 = q((1, 3, 3, 8), 5e-4)
    b.op("DEPTHWISE_CONV_2D", [c1, w2, b2], [c2],
         options("DepthwiseConv2DOptionsT", padding=0, strideH=2, strideW=2, depthMultiplier=2,
                 dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=3))
    mp = q((1, 3, 3, 8), 5e-4)
    b.op("MAX_POOL_2D", [c2], [mp], options("Pool2DOptionsT", padding=0, strideH=1, strideW=1,
                                             filterHeight=2, filterWidth=2))
    ap = q((1, 2, 2, 8), 5e-4)
    b.op("AVERAGE_POOL_2D", [mp], [ap], options("Pool2DOptionsT", padding=0, strideH=2, strideW=2,
                                                 filterHeight=2, filterWidth=2))
    k = b.tensor((1, 1, 1, 8), "INT16", scale=4e-4, zero_point=0, data=rng.integers(-30000, 30000, (1, 1, 1, 8)))
    ad = q((1, 2, 2, 8), 8e-4)
    b.op("ADD", [ap, k], [ad], options("AddOptionsT", fusedActivationFunction=0))
    axes = b.tensor((2,), "INT32", data=np.array([1, 2], np.int32))
    mn = q((1, 1, 1, 8), 6e-4)
    b.op("MEAN", [ad, axes], [mn], options("ReducerOptionsT", keepDims=True))
    shp = b.tensor((2,), "INT32", data=np.array([1, 8], np.int32))
    rs = q((1, 8), 6e-4)
    b.op("RESHAPE", [mn, shp], [rs], options("ReshapeOptionsT", newShape=[1, 8]))
    w3 = b.tensor((5, 8), scale=0.02, zero_point=0, data=rng.integers(-127, 128, (5, 8)))
    b3 = b.tensor((5,), "INT64", scale=1.2e-5, zero_point=0, data=rng.integers(-500, 500, 5))
    fc = q((1, 5), 2e-4)
    b.op("FULLY_CONNECTED", [rs, w3, b3], [fc], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    sm = q((1, 5), 1 / 32768)
    b.op("SOFTMAX", [fc], [sm], options("SoftmaxOptionsT", beta=1.0))
    yf = b.tensor((1, 5), "FLOAT32")
    b.op("DEQUANTIZE", [sm], [yf], options("DequantizeOptionsT"))
    return b.build([xf], [yf])


def test_16x8_rows_link_only_when_a_model_needs_them(image):
    """The 16x8 firmware runs every 16x8 op as the host does; the int8 firmware leaves those rows
    out (their flash is not charged to int8 models) and refuses such a blob at load time."""
    from autotiny import runtime
    from tests.tflite_builder import run_tflm

    if image.board.name == "nrf52840":
        pytest.skip("the 16x8 build is checked on one M7 and one M4 board (stm32f746, stm32l4r5): a build costs seconds")
    model = _every_16x8_op_model()
    mb = blob.from_tflite(model)
    assert firmware.needs_int16(mb) and not firmware.needs_int16(blob.from_tflite(_every_op_model()))
    assert {n for n, op in blob.BLOB_OPS.items() if op.int16} == set(blob.load_blob(mb.data).op_names) - {"RESHAPE"}
    wide = firmware.build(image.board, int16=True)
    assert wide.elf != image.elf and wide.text > image.text
    host = runtime.HostModel(mb)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.normal(0, 1.5, (1, 6, 6, 2)).astype(np.float32)
        expected = host.run(x)
        assert expected.tobytes() == run_tflm(model, x).tobytes()
        status, out, marks, _ = _run_in_unicorn(wide, mb.data, x)
        assert status == 0, blob.STATUS_NAMES.get(status, status)
        assert out == expected.tobytes()
    status, _, marks, _ = _run_in_unicorn(image, mb.data, x)
    assert status == 6 and not marks  # unsupported op code: the int8 firmware has no 16x8 rows
