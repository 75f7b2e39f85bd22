"""Sparse filters in the blob (autotiny.blob.sparse, DECODE_SPARSE_INT8): a sparse build computes
what the dense build computes, byte for byte, on the host runtime and in the emulated firmware
(Cortex-M4 and M7, built with the decoder); it costs less measured flash, at most the largest
decoded filter more RAM; the runtime refuses an encoding whose sizes disagree.

`test_decode_sparse_int8` is the decoder's property test (tests/unit/test_op_table.py asks every
blob op for one): random single-op models (int8 and 16x8) at random sparsity, sparse against dense."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.contract.test_arm_equals_host import assert_same, board
from tests.tflite_builder import ModelBuilder, options

from autotiny import blob, firmware, runtime
from autotiny.blob import sparse
from autotiny.errors import ModelError
from autotiny.measure import emulator

ARM_BOARDS = ("nrf52840", "stm32f746")  # Cortex-M4, Cortex-M7
TARGETS = ("host", pytest.param("arm", marks=pytest.mark.needs_arm_gcc))


def prune(w: np.ndarray, fraction: float) -> np.ndarray:
    """Zero the `fraction` of the weights smallest in magnitude (magnitude pruning)."""
    flat = w.reshape(-1).copy()
    flat[np.argsort(np.abs(flat.astype(np.int16)), kind="stable")[:int(round(fraction * flat.size))]] = 0
    return flat.reshape(w.shape)


def pruned_model(seed: int = 0, fraction: float = 0.75) -> bytes:
    """8x8x3 -> CONV_2D 3x3 (20 ch) -> DEPTHWISE_CONV_2D 3x3 -> RESHAPE -> FULLY_CONNECTED 10; every
    filter pruned to `fraction` zeros.  The conv filter's 540 elements are not whole mask bytes,
    so its mask's last byte is a partial one."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()

    def weights(shape, n_scales, axis):
        s = [float(np.float32(10 ** rng.uniform(-2.5, -1.5))) for _ in range(n_scales)]
        w = prune(rng.integers(-127, 128, size=shape, dtype=np.int8), fraction)
        return b.tensor(shape, scale=s, zero_point=[0] * n_scales, quantized_dimension=axis, data=w), s

    x = b.tensor((1, 8, 8, 3), scale=0.05, zero_point=-3)
    w1, s1 = weights((20, 3, 3, 3), 20, 0)
    b1 = b.tensor((20,), "INT32", scale=[float(np.float32(0.05) * np.float32(s)) for s in s1], zero_point=[0] * 20,
                  data=rng.integers(-3000, 3000, size=20).astype(np.int32))
    y1 = b.tensor((1, 6, 6, 20), scale=0.08, zero_point=5)
    b.op("CONV_2D", [x, w1, b1], [y1], options("Conv2DOptionsT", padding=1, strideH=1, strideW=1, dilationHFactor=1,
                                                dilationWFactor=1, fusedActivationFunction=1))
    w2, s2 = weights((1, 3, 3, 20), 20, 3)
    b2 = b.tensor((20,), "INT32", scale=[float(np.float32(0.08) * np.float32(s)) for s in s2], zero_point=[0] * 20,
                  data=rng.integers(-3000, 3000, size=20).astype(np.int32))
    y2 = b.tensor((1, 6, 6, 20), scale=0.06, zero_point=-7)
    b.op("DEPTHWISE_CONV_2D", [y1, w2, b2], [y2],
         options("DepthwiseConv2DOptionsT", padding=0, strideH=1, strideW=1, depthMultiplier=1, dilationHFactor=1,
                 dilationWFactor=1, fusedActivationFunction=0))
    flat = b.tensor((1, 720), scale=0.06, zero_point=-7)
    shape = b.tensor((2,), "INT32", data=np.array([1, 720], dtype=np.int32))
    b.op("RESHAPE", [y2, shape], [flat], options("ReshapeOptionsT", newShape=[1, 720]))
    w3, (s3,) = weights((10, 720), 1, 0)
    y3 = b.tensor((1, 10), scale=0.3, zero_point=2)
    b.op("FULLY_CONNECTED", [flat, w3, -1], [y3], options("FullyConnectedOptionsT", fusedActivationFunction=0))
    return b.build([x], [y3])


def inputs(shape, n: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    yield np.full(shape, -128, np.int8)
    yield np.full(shape, 127, np.int8)
    for _ in range(n - 2):
        yield rng.integers(-128, 128, size=shape, dtype=np.int8)


def largest_filter(b: blob.ModelBlob) -> int:
    """Bytes of the largest filter a decode record expands (its arena tensor)."""
    return max(b.tensors[w].nbytes for _, w in decode_records(b))


def decode_records(b: blob.ModelBlob) -> list[tuple[int, int]]:
    """(encoding tensor, filter tensor) of every DECODE_SPARSE_INT8 record in the blob."""
    out, pos = [], b.header.ops_offset
    for _ in range(b.header.n_ops):
        code, n = struct.unpack_from("<HH", b.data, pos)
        if code == sparse.DECODE_SPARSE_INT8.opcode:
            out.append(struct.unpack_from("<2i", b.data, pos + 4))
        pos += 4 + 4 * n
    return out


@pytest.fixture(scope="module")
def pair() -> tuple[blob.ModelBlob, blob.ModelBlob]:
    model = pruned_model()
    return blob.from_tflite(model), blob.from_tflite(model, sparse=True)


def test_every_pruned_filter_is_stored_encoded_and_the_saving_is_the_size_difference(pair):
    dense, sp = pair
    assert len(decode_records(sp)) == 3 and not decode_records(dense)
    assert sp.sparse_saved == dense.size - sp.size > 0
    assert dense.sparse_saved == 0
    assert firmware.needs_sparse(sp) and not firmware.needs_sparse(dense)
    # each record is right before the op reading its filter, so the arena copy lives two ops
    names = sp.op_names
    assert names == ["DECODE_SPARSE_INT8", "CONV_2D", "DECODE_SPARSE_INT8", "DEPTHWISE_CONV_2D", "RESHAPE",
                     "DECODE_SPARSE_INT8", "FULLY_CONNECTED"]


def test_sparse_blob_equals_dense_on_the_host(pair):
    dense, sp = pair
    for k, x in enumerate(inputs(dense.input_shape)):
        want, got = runtime.run(dense, x), runtime.run(sp, x)
        assert got.tobytes() == want.tobytes(), f"input #{k}"


def test_arena_grows_by_at_most_the_largest_decoded_filter(pair):
    dense, sp = pair
    assert dense.arena_size <= sp.arena_size <= dense.arena_size + largest_filter(sp)


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("board_name", ARM_BOARDS)
def test_sparse_blob_equals_dense_in_the_firmware_with_less_flash(pair, board_name):
    dense, sp = pair
    rec = board(board_name)
    img_dense, img_sparse = firmware.build(rec), firmware.build(rec, sparse=True)
    assert "-DAT_WITH_SPARSE" in img_sparse.flags and "-DAT_WITH_SPARSE" not in img_dense.flags
    on_sparse = emulator.Machine(rec.core, emulator.memory_map(rec), elf=img_sparse.elf, cycle_model=False)
    on_dense = emulator.Machine(rec.core, emulator.memory_map(rec), elf=img_dense.elf, cycle_model=False)
    # the decoder is linked only where asked for: the dense firmware refuses the op code
    refused = emulator.emulate(sp.data, rec, next(inputs(sp.input_shape)), cycle_model=False, on=on_dense)
    assert refused.status == 6, refused.status_name
    # left to choose, the emulator runs a sparse blob on the firmware with the decoder
    assert emulator.emulate(sp.data, rec, next(inputs(sp.input_shape)), cycle_model=False).ok
    peak = {}
    for k, x in enumerate(inputs(dense.input_shape)):
        r_dense = emulator.emulate(dense.data, rec, x, cycle_model=False)
        r_sparse = emulator.emulate(sp.data, rec, x, cycle_model=False, on=on_sparse)
        assert_same(sp, rec, x, f"sparse blob input #{k}", run=r_sparse)
        assert r_sparse.output.tobytes() == r_dense.output.tobytes(), f"input #{k}"
        peak = {"dense": r_dense.peak_stack_bytes, "sparse": r_sparse.peak_stack_bytes}
    acct_dense = firmware.account(dense, rec, image=img_dense, peak_stack=peak["dense"])
    acct_sparse = firmware.account(sp, rec, image=img_sparse, peak_stack=peak["sparse"])
    # measured flash: the firmware (+ the decoder) and every model slot
    decoder = img_sparse.flash_image - img_dense.flash_image
    assert decoder > 0
    assert acct_sparse.flash == acct_dense.flash + decoder - acct_dense.slots * sp.sparse_saved
    assert acct_sparse.flash < acct_dense.flash, (acct_sparse.describe_flash(), acct_dense.describe_flash())
    assert acct_sparse.ram_used - acct_dense.ram_used <= largest_filter(sp), (acct_sparse.describe_ram(),
                                                                               acct_dense.describe_ram())


# ---------------------------------------------------------------------------
# a corrupt encoding (consistent CRC: only the decoder's check can catch it)


def _with_crc(data: bytearray) -> bytes:
    struct.pack_into("<I", data, 12, zlib.crc32(bytes(data[16:])) & 0xFFFFFFFF)
    return bytes(data)


def _tensor_entry(b: blob.ModelBlob, index: int) -> int:
    return b.header.tensors_offset + index * blob.TENSOR_RECORD


def _set_mask_bit(b: blob.ModelBlob) -> bytes:
    """One more mask bit than values stored (a zero weight marked non-zero)."""
    src, dst = decode_records(b)[0]
    t = b.tensors[src]
    mask = np.frombuffer(b.data, np.uint8, (b.tensors[dst].nbytes + 7) // 8, t.offset)
    byte = int(np.flatnonzero(mask != 0xFF)[0])
    data = bytearray(b.data)
    m = int(mask[byte])
    data[t.offset + byte] |= ~m & (m + 1)  # its lowest clear bit
    return _with_crc(data)


def _truncate_values(b: blob.ModelBlob) -> bytes:
    """The encoding's tensor one value short of what its mask marks."""
    src, _ = decode_records(b)[0]
    data = bytearray(b.data)
    entry = _tensor_entry(b, src)
    dims0, nbytes = struct.unpack_from("<i", data, entry + 4)[0], b.tensors[src].nbytes
    struct.pack_into("<i", data, entry + 4, dims0 - 1)
    struct.pack_into("<I", data, entry + 4 + 4 * blob.MAX_DIMS + 4, nbytes - 1)
    return _with_crc(data)


def _bit_past_the_end(b: blob.ModelBlob) -> bytes:
    """A mask bit set past the last element (the conv filter's 540 elements end mid-byte), with a
    value appended so the popcount still matches the stored values: only the end check catches it."""
    src, dst = decode_records(b)[0]
    n = b.tensors[dst].nbytes
    assert n % 8
    data = bytearray(b.data)
    data[b.tensors[src].offset + n // 8] |= 1 << (n % 8)
    entry = _tensor_entry(b, src)
    struct.pack_into("<i", data, entry + 4, b.tensors[src].nbytes + 1)
    struct.pack_into("<I", data, entry + 4 + 4 * blob.MAX_DIMS + 4, b.tensors[src].nbytes + 1)
    return _with_crc(data)


def _misaligned_filter(b: blob.ModelBlob) -> bytes:
    """The decoded filter one byte off word alignment (the decoder zeroes it a word at a time)."""
    _, dst = decode_records(b)[0]
    assert b.tensors[dst].offset > 0  # the model input, live at the first decode, holds offset 0
    data = bytearray(b.data)
    struct.pack_into("<I", data, _tensor_entry(b, dst) + 4 + 4 * blob.MAX_DIMS, b.tensors[dst].offset - 1)
    return _with_crc(data)


@pytest.mark.parametrize("corrupt", [_set_mask_bit, _truncate_values, _bit_past_the_end, _misaligned_filter])
def test_runtime_refuses_an_inconsistent_encoding(pair, corrupt):
    _, sp = pair
    data = corrupt(sp)
    blob.load_blob(data)  # header, CRC and op codes are fine: the decoder's check must catch it
    assert runtime.validate(data) == 7
    with pytest.raises(ModelError, match=r"runtime rejected blob <bytes>: op parameters inconsistent with tensor "
                                         r"shapes \(status 7\)"):
        runtime.HostModel(data)


# ---------------------------------------------------------------------------
# property test: random single-op models at random sparsity, sparse build == dense build


@st.composite
def single_op(draw):
    """(model, input): one conv, depthwise or fully-connected op with a pruned filter, int8 or 16x8."""
    kind = draw(st.sampled_from(["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"]))
    act = draw(st.sampled_from(["INT8", "INT8", "INT16"]))  # 16x8: int16 activations, zero point 0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fraction = draw(st.sampled_from([0.3, 0.6, 0.75, 0.9, 0.97, 1.0]))
    b = ModelBuilder()
    s_in, s_out = float(np.float32(10 ** rng.uniform(-2, 0))), float(np.float32(10 ** rng.uniform(-1.5, 0.5)))
    zp_in, zp_out = (int(rng.integers(-128, 128)), int(rng.integers(-128, 128))) if act == "INT8" else (0, 0)
    info = np.iinfo(np.int8 if act == "INT8" else np.int16)

    def x_of(shape):
        return rng.integers(info.min, info.max + 1, size=shape, dtype=info.dtype)

    if kind == "FULLY_CONNECTED":
        depth, units = draw(st.integers(8, 300)), draw(st.integers(1, 32))
        x = b.tensor((1, depth), act, scale=s_in, zero_point=zp_in)
        w = prune(rng.integers(-127, 128, size=(units, depth), dtype=np.int8), fraction)
        wt = b.tensor(w.shape, scale=float(np.float32(10 ** rng.uniform(-3, -1))), zero_point=0, data=w)
        y = b.tensor((1, units), act, scale=s_out, zero_point=zp_out)
        b.op(kind, [x, wt, -1], [y], options("FullyConnectedOptionsT", fusedActivationFunction=0))
        return b.build([x], [y]), x_of((1, depth))
    h, wd, cin = draw(st.integers(3, 9)), draw(st.integers(3, 9)), draw(st.integers(1, 16))
    k = draw(st.integers(1, 3))
    cout = cin * draw(st.integers(1, 3)) if kind == "DEPTHWISE_CONV_2D" else draw(st.integers(1, 24))
    shape = (1, k, k, cout) if kind == "DEPTHWISE_CONV_2D" else (cout, k, k, cin)
    scales = [float(np.float32(10 ** rng.uniform(-3, -1))) for _ in range(cout)]
    x = b.tensor((1, h, wd, cin), act, scale=s_in, zero_point=zp_in)
    wt = b.tensor(shape, scale=scales, zero_point=[0] * cout, quantized_dimension=3 if kind != "CONV_2D" else 0,
                  data=prune(rng.integers(-127, 128, size=shape, dtype=np.int8), fraction))
    y = b.tensor((1, h, wd, cout), act, scale=s_out, zero_point=zp_out)
    common = dict(padding=0, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=0)
    if kind == "CONV_2D":
        b.op(kind, [x, wt, -1], [y], options("Conv2DOptionsT", **common))
    else:
        b.op(kind, [x, wt, -1], [y], options("DepthwiseConv2DOptionsT", depthMultiplier=cout // cin, **common))
    return b.build([x], [y]), x_of((1, h, wd, cin))


_arm_machine: dict[bool, emulator.Machine] = {}  # by int16: one firmware build each


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(case=single_op())
def test_decode_sparse_int8(target, case):
    model, x = case
    dense, sp = blob.from_tflite(model), blob.from_tflite(model, sparse=True)
    want = runtime.run(dense, x)
    if not decode_records(sp):  # the filter's encoding did not pay: the blob is the dense one
        assert sp.data == dense.data and sp.sparse_saved == 0
        return
    if target == "host":
        got = runtime.run(sp, x)
    else:
        rec, int16 = board("stm32f746"), firmware.needs_int16(sp)
        if int16 not in _arm_machine:
            elf = firmware.build(rec, int16=int16, sparse=True).elf
            _arm_machine[int16] = emulator.Machine(rec.core, emulator.memory_map(rec), elf=elf, cycle_model=False)
        r = emulator.emulate(sp.data, rec, x, cycle_model=False, on=_arm_machine[int16])
        assert r.ok, r.fault or r.status_name
        got = r.output
    assert got.tobytes() == want.tobytes()


@pytest.mark.needs_arm_gcc
def test_the_device_gets_the_sparse_blob_only_where_flash_shrinks_net_of_the_decoder():
    """measure.protocol.device_blob: a blob that the encoding shrinks by less than the decoder adds to the
    firmware stays dense on the device (15 % zeros: 128 B per slot); more zeros pay (75 %); a dense
    candidate (sparse=False) never gets the encoding."""
    from autotiny.measure.protocol import device_blob, image_for

    bd = board("stm32f746")
    for fraction, pays in ((0.15, False), (0.75, True)):
        model = pruned_model(0, fraction)
        encoded, dense = blob.from_tflite(model, sparse=True), blob.from_tflite(model)
        assert firmware.needs_sparse(encoded) and encoded.sparse_saved > 0  # the blob alone is smaller
        chosen = device_blob(model, bd, sparse=True)
        assert firmware.needs_sparse(chosen) == pays
        flash = {b.size: firmware.account(b, bd, image=image_for(b, bd)).flash for b in (encoded, dense)}
        assert (flash[encoded.size] < flash[dense.size]) == pays
        assert not firmware.needs_sparse(device_blob(model, bd))
