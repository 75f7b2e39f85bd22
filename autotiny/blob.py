"""Model blob: an int8 .tflite turned into the compact binary the runtime executes.

The blob lives in its own flash region on the device, so a new model never
needs a firmware rebuild.  Layout (little-endian, see firmware/README.md and
firmware/runtime/at_blob.h, which this module mirrors):

    header (128 B)  magic "ATNY", version, total size, CRC-32 of bytes [16, total),
                    arena size, table offsets, input/output shape + quantization
    tensor table    44 B per tensor: dtype, rank, dims[6], storage, offset, size, zp, scale
    op records      {opcode:u16, n_words:u16} + n_words int32 parameters
    data            constant tensors (weights, biases, per-channel multipliers/shifts),
                    each 16-byte aligned

Everything the kernels need that TFLM computes in Prepare() (requantization
multipliers and shifts, activation ranges, padding) is computed here in Python
with the same double-precision steps as TFLM and stored in the blob, so the
device does no floating-point set-up.  The arena plan (tensor offsets, reusing
the memory of dead tensors) is also made here.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotiny.errors import ModelError
from autotiny.tflite_model import Op, TfliteModel, read_tflite

MAGIC = b"ATNY"
VERSION = 1
HEADER_SIZE = 128
CRC_START = 16
MAX_DIMS = 6
TENSOR_RECORD = 44
DATA_ALIGN = 16
ARENA_ALIGN = 16

DTYPES = {"INT8": 1, "INT32": 2, "FLOAT32": 3}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
NP_DTYPES = {1: np.int8, 2: np.int32, 3: np.float32}
ELEM_SIZE = {1: 1, 2: 4, 3: 4}
STORE_ARENA, STORE_BLOB = 0, 1

OPCODES = {
    "CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 3, "AVERAGE_POOL_2D": 4,
    "MAX_POOL_2D": 5, "ADD": 6, "MEAN": 7, "PAD": 8, "RESHAPE": 9, "SOFTMAX": 10,
    "QUANTIZE": 11, "DEQUANTIZE": 12, "REQUANTIZE": 13, "CONCATENATION": 14,
}
OPCODE_NAMES = {v: k for k, v in OPCODES.items()}
# tflite op names we accept (PADV2, SQUEEZE, EXPAND_DIMS map onto PAD / RESHAPE)
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
                 "MAX_POOL_2D", "ADD", "MEAN", "PAD", "PADV2", "RESHAPE", "SQUEEZE",
                 "EXPAND_DIMS", "SOFTMAX", "QUANTIZE", "DEQUANTIZE", "CONCATENATION")

STATUS_NAMES = {
    0: "ok", 1: "bad magic", 2: "unsupported format version", 3: "truncated blob or bad total size",
    4: "CRC-32 mismatch", 5: "tensor or op table out of bounds", 6: "unsupported op code",
    7: "op parameters inconsistent with tensor shapes", 8: "arena too small",
    9: "input/output size mismatch", 10: "output larger than the output buffer",
    11: "blob or arena not aligned",
}

_HEADER = struct.Struct("<4sHHIIIHHIIIII")  # 44 bytes, then two io descriptors
_IO = struct.Struct("<HBB6iIi")  # 36 bytes
_TENSOR = struct.Struct("<BBBB6iIIiI")  # 44 bytes
assert _HEADER.size == 44 and _IO.size == 36 and _TENSOR.size == TENSOR_RECORD


# --------------------------------------------------------------------------
# TFLM's quantization arithmetic, done on the host exactly as TFLM does it


def _round_half_away(x: float) -> float:
    """std::round: halves away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(d: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier (frexp-based, double precision): (q31 multiplier, shift)."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = int(_round_half_away(q * float(1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def activation_range(act: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: act is the schema ActivationFunctionType."""
    s = np.float32(scale)

    def q(f: float) -> int:  # zero_point + round(f / scale), division in float32
        return zero_point + int(_round_half_away(float(np.float32(f) / s)))

    if act == 0:
        return -128, 127
    if act == 1:  # RELU
        return max(-128, q(0.0)), 127
    if act == 2:  # RELU_N1_TO_1
        return max(-128, q(-1.0)), min(127, q(1.0))
    if act == 3:  # RELU6
        return max(-128, q(0.0)), min(127, q(6.0))
    raise ValueError(act)


def compute_padding(padding: int, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """ComputePaddingHeightWidth for one dimension (padding: 0 SAME, 1 VALID)."""
    eff = (filter_size - 1) * dilation + 1
    out = (in_size + stride - 1) // stride if padding == 0 else (in_size + stride - eff) // stride
    total = (out - 1) * stride + eff - in_size
    return max(total, 0) // 2


def out_size(padding: int, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    eff = (filter_size - 1) * dilation + 1
    return (in_size + stride - 1) // stride if padding == 0 else (in_size + stride - eff) // stride


def f32(x: float) -> float:
    return float(np.float32(x))


def float_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


# --------------------------------------------------------------------------
# arena planning


def plan_arena(sizes: list[int], lifetimes: list[tuple[int, int]], pinned: int | None = None,
               align: int = ARENA_ALIGN) -> tuple[list[int], int]:
    """Place buffers with [first, last] op lifetimes in one arena.

    Buffers whose lifetimes overlap never share bytes.  Greedy: take the
    buffers in some order, put each at the lowest aligned offset that fits
    among the already placed buffers it overlaps in time.  Several orders are
    tried (largest first with two tie-breaks, by first use, by size x
    lifetime) and the smallest arena wins.  `pinned` (the model input) must
    end up at offset 0, so the firmware finds it at a fixed address: either
    placed first, or placed last at the top of a plan of the others, which is
    then mirrored.
    Returns (offsets, arena size)."""
    n = len(sizes)
    orders = [
        sorted(range(n), key=lambda i: (-sizes[i], lifetimes[i][0], i)),
        sorted(range(n), key=lambda i: (-sizes[i], -lifetimes[i][0], i)),
        sorted(range(n), key=lambda i: (lifetimes[i][0], -sizes[i], i)),
        sorted(range(n), key=lambda i: (-sizes[i] * (lifetimes[i][1] - lifetimes[i][0] + 1), i)),
    ]
    candidates = []
    for order in orders:
        if pinned is None:
            candidates.append(_place(order, sizes, lifetimes, align))
            continue
        candidates.append(_place([pinned] + [i for i in order if i != pinned], sizes, lifetimes, align))
        # a free plan whose input ends at the top of the arena, mirrored, puts the
        # input at offset 0 (mirroring keeps every pair of buffers disjoint)
        rest = [i for i in order if i != pinned]
        offsets, total = _place(rest, sizes, lifetimes, align)
        top = total - _align(sizes[pinned], align)
        lo, hi = lifetimes[pinned]
        clash = top < 0 or any(
            offsets[j] < top + sizes[pinned] and top < offsets[j] + sizes[j]
            for j in rest if not (lifetimes[j][1] < lo or lifetimes[j][0] > hi))
        if clash:
            top, total = total, total + _align(sizes[pinned], align)
        offsets[pinned] = top
        candidates.append(([total - _align(o + s, align) for o, s in zip(offsets, sizes)], total))
    return min(candidates, key=lambda c: c[1]) if candidates else ([], 0)


def _place(order, sizes, lifetimes, align) -> tuple[list[int], int]:
    placed: list[tuple[int, int, int]] = []  # (offset, end, index)
    offsets = [0] * len(sizes)
    for i in order:
        lo, hi = lifetimes[i]
        live = sorted((o, e) for o, e, j in placed
                      if not (lifetimes[j][1] < lo or lifetimes[j][0] > hi))
        off = 0
        for o, e in live:
            if off + sizes[i] <= o:
                break
            off = max(off, _align(e, align))
        offsets[i] = off
        placed.append((off, off + sizes[i], i))
    total = max((e for _, e, _ in placed), default=0)
    return offsets, _align(total, align)


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


# --------------------------------------------------------------------------
# blob records


@dataclass
class BlobTensor:
    dtype: int
    shape: tuple[int, ...]
    storage: int
    offset: int = 0
    zero_point: int = 0
    scale: float = 0.0
    name: str = ""
    data: bytes | None = None  # constants only

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * ELEM_SIZE[self.dtype] if self.shape else ELEM_SIZE[self.dtype]


@dataclass
class BlobHeader:
    version: int
    total_size: int
    crc32: int
    arena_size: int
    n_tensors: int
    n_ops: int
    tensors_offset: int
    ops_offset: int
    ops_size: int
    data_offset: int
    input_tensor: int
    input_dtype: str
    input_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_tensor: int
    output_dtype: str
    output_shape: tuple[int, ...]
    output_scale: float
    output_zero_point: int


@dataclass
class ModelBlob:
    data: bytes
    header: BlobHeader
    op_names: list[str]
    tflite_size: int = 0
    source: str = ""
    tensors: list[BlobTensor] = field(default_factory=list, repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def arena_size(self) -> int:
        return self.header.arena_size

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.header.input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.header.output_shape

    @property
    def input_dtype(self):
        return np.dtype(NP_DTYPES[DTYPES[self.header.input_dtype]])

    @property
    def output_dtype(self):
        return np.dtype(NP_DTYPES[DTYPES[self.header.output_dtype]])

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.data)


# --------------------------------------------------------------------------
# tflite -> blob


class _Builder:
    def __init__(self, model: TfliteModel, where: str):
        self.m = model
        self.where = where
        self.tensors: list[BlobTensor] = []
        self.map: dict[int, int] = {}  # tflite tensor index -> blob tensor index
        self.ops: list[tuple[str, int, list[int]]] = []  # (tflite name, opcode, words)
        self.alias: dict[int, int] = {}  # blob tensor -> blob tensor it shares memory with

    def fail(self, op: Op | None, msg: str) -> ModelError:
        where = f" (op #{op.index} {op.name})" if op is not None else ""
        return ModelError(f"{msg}{where} in model {self.where}")

    # tensors ------------------------------------------------------------
    def tensor(self, idx: int, op: Op | None = None, dtypes=("INT8",)) -> int:
        if idx < 0:
            raise self.fail(op, "missing input tensor")
        t = self.m.tensors[idx]
        if t.dtype not in dtypes:
            raise self.fail(op, f"tensor '{t.name}' has type {t.dtype}, expected {'/'.join(dtypes)}")
        if idx in self.map:
            return self.map[idx]
        if len(t.shape) > MAX_DIMS:
            raise self.fail(op, f"tensor '{t.name}' has rank {len(t.shape)} > {MAX_DIMS}")
        if any(d <= 0 for d in t.shape):
            raise self.fail(op, f"tensor '{t.name}' has a dynamic or empty shape {t.shape}")
        dt = DTYPES[t.dtype]
        if t.is_constant:
            data = self.m.constant(idx).astype(NP_DTYPES[dt]).tobytes()
            bt = BlobTensor(dt, tuple(t.shape), STORE_BLOB, name=t.name, data=data,
                            zero_point=t.zero_point[0] if t.zero_point else 0,
                            scale=t.scale[0] if t.scale else 0.0)
        else:
            bt = BlobTensor(dt, tuple(t.shape), STORE_ARENA, name=t.name,
                            zero_point=t.zero_point[0] if t.zero_point else 0,
                            scale=t.scale[0] if t.scale else 0.0)
        self.tensors.append(bt)
        self.map[idx] = len(self.tensors) - 1
        return self.map[idx]

    def const(self, values, dtype=np.int32, name="") -> int:
        arr = np.asarray(values, dtype=dtype).reshape(-1)
        dt = {np.dtype(np.int32): 2, np.dtype(np.int8): 1, np.dtype(np.float32): 3}[arr.dtype]
        self.tensors.append(BlobTensor(dt, (len(arr),), STORE_BLOB, name=name, data=arr.tobytes()))
        return len(self.tensors) - 1

    def q(self, idx: int) -> tuple[float, int]:
        t = self.m.tensors[idx]
        if not t.scale:
            raise ModelError(f"tensor '{t.name}' is not quantized in model {self.where}")
        return t.scale[0], (t.zero_point[0] if t.zero_point else 0)

    def act(self, op: Op, out_idx: int) -> tuple[int, int]:
        a = int(getattr(op.options, "fusedActivationFunction", 0) or 0)
        if a not in (0, 1, 2, 3):
            raise self.fail(op, f"fused activation {a} is not supported")
        s, zp = self.q(out_idx)
        return activation_range(a, s, zp)

    def requant_vectors(self, op: Op, in_idx: int, w_idx: int, out_idx: int, n: int):
        in_s, _ = self.q(in_idx)
        out_s, _ = self.q(out_idx)
        w = self.m.tensors[w_idx]
        if not w.scale:
            raise self.fail(op, "weights are not quantized")
        if any(z != 0 for z in w.zero_point):
            raise self.fail(op, "per-channel weights with a non-zero zero point")
        scales = list(w.scale) if len(w.scale) > 1 else [w.scale[0]] * n
        if len(scales) != n:
            raise self.fail(op, f"{len(scales)} weight scales for {n} channels")
        mults, shifts = [], []
        for fs in scales:
            mq, sh = quantize_multiplier(float(in_s) * float(fs) / float(out_s))
            mults.append(mq)
            shifts.append(sh)
        return self.const(mults, name="multipliers"), self.const(shifts, name="shifts")

    def bias(self, op: Op) -> int:
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            return -1
        return self.tensor(op.inputs[2], op, dtypes=("INT32",))

    def emit(self, op: Op, code: str, words: list[int]) -> None:
        self.ops.append((op.name, OPCODES[code], [int(w) for w in words]))

    # ops ----------------------------------------------------------------
    def add_op(self, op: Op) -> None:
        name = op.name
        if name not in SUPPORTED_OPS:
            raise ModelError(f"unsupported op {name} (op #{op.index}) in model {self.where}; "
                             f"supported: {', '.join(SUPPORTED_OPS)}")
        getattr(self, "op_" + name.lower())(op)

    def _conv_common(self, op: Op):
        o = op.options
        i_in, i_w, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
        t_in, t_w, t_out = (self.m.tensors[i] for i in (i_in, i_w, i_out))
        if len(t_in.shape) != 4 or len(t_w.shape) != 4 or len(t_out.shape) != 4:
            raise self.fail(op, "expects 4-D input, filter and output")
        if not self.m.tensors[i_w].is_constant:
            raise self.fail(op, "non-constant weights are not supported")
        in_t, w_t, out_t = self.tensor(i_in, op), self.tensor(i_w, op), self.tensor(i_out, op)
        b_t = self.bias(op)
        n = t_out.shape[3]
        mult, shift = self.requant_vectors(op, i_in, i_w, i_out, n)
        kh, kw = t_w.shape[1], t_w.shape[2]
        sh, sw = int(o.strideH), int(o.strideW)
        dh, dw = int(o.dilationHFactor or 1), int(o.dilationWFactor or 1)
        pad = int(o.padding)
        ph = compute_padding(pad, t_in.shape[1], kh, sh, dh)
        pw = compute_padding(pad, t_in.shape[2], kw, sw, dw)
        if (out_size(pad, t_in.shape[1], kh, sh, dh), out_size(pad, t_in.shape[2], kw, sw, dw)) != \
                (t_out.shape[1], t_out.shape[2]):
            raise self.fail(op, "output shape does not match padding/stride")
        _, in_zp = self.q(i_in)
        _, out_zp = self.q(i_out)
        lo, hi = self.act(op, i_out)
        words = [in_t, w_t, b_t, out_t, mult, shift, sh, sw, dh, dw, ph, pw, -in_zp, out_zp, lo, hi]
        return words, t_in, t_out

    def op_conv_2d(self, op: Op):
        words, t_in, t_out = self._conv_common(op)
        t_w = self.m.tensors[op.inputs[1]]
        if t_in.shape[3] % t_w.shape[3] or t_out.shape[3] % (t_in.shape[3] // t_w.shape[3]):
            raise self.fail(op, "filter depth does not divide the input depth")
        self.emit(op, "CONV_2D", words)

    def op_depthwise_conv_2d(self, op: Op):
        words, t_in, t_out = self._conv_common(op)
        if t_out.shape[3] % t_in.shape[3]:
            raise self.fail(op, "output depth is not a multiple of the input depth")
        self.emit(op, "DEPTHWISE_CONV_2D", words + [t_out.shape[3] // t_in.shape[3]])

    def op_fully_connected(self, op: Op):
        i_in, i_w, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
        t_w = self.m.tensors[i_w]
        if len(t_w.shape) != 2 or not t_w.is_constant:
            raise self.fail(op, "expects constant 2-D weights")
        in_t, w_t, out_t = self.tensor(i_in, op), self.tensor(i_w, op), self.tensor(i_out, op)
        b_t = self.bias(op)
        in_s, in_zp = self.q(i_in)
        out_s, out_zp = self.q(i_out)
        if len(t_w.scale) > 1:
            mult, shift = self.requant_vectors(op, i_in, i_w, i_out, t_w.shape[0])
            w_zp = 0
        else:
            # GetQuantizedConvolutionMultipler: float product, then double division
            mq, sh = quantize_multiplier(f32(np.float32(in_s) * np.float32(t_w.scale[0])) / float(out_s))
            mult, shift = self.const([mq], name="multiplier"), self.const([sh], name="shift")
            w_zp = t_w.zero_point[0] if t_w.zero_point else 0
        lo, hi = self.act(op, i_out)
        self.emit(op, "FULLY_CONNECTED", [in_t, w_t, b_t, out_t, mult, shift, -in_zp, -w_zp, out_zp, lo, hi])

    def _pool(self, op: Op, code: str):
        o = op.options
        i_in, i_out = op.inputs[0], op.outputs[0]
        t_in = self.m.tensors[i_in]
        if len(t_in.shape) != 4:
            raise self.fail(op, "expects a 4-D input")
        (s_in, z_in), (s_out, z_out) = self.q(i_in), self.q(i_out)
        if abs(s_in - s_out) > 1e-6 or z_in != z_out:  # TFLM's pooling refuses these too
            raise self.fail(op, "input and output quantization differ")
        fh, fw, sh, sw = int(o.filterHeight), int(o.filterWidth), int(o.strideH), int(o.strideW)
        pad = int(o.padding)
        ph = compute_padding(pad, t_in.shape[1], fh, sh, 1)
        pw = compute_padding(pad, t_in.shape[2], fw, sw, 1)
        lo, hi = self.act(op, i_out)
        self.emit(op, code, [self.tensor(i_in, op), self.tensor(i_out, op), fh, fw, sh, sw, ph, pw, lo, hi])

    def op_average_pool_2d(self, op: Op):
        self._pool(op, "AVERAGE_POOL_2D")

    def op_max_pool_2d(self, op: Op):
        self._pool(op, "MAX_POOL_2D")

    def op_add(self, op: Op):
        i1, i2, io = op.inputs[0], op.inputs[1], op.outputs[0]
        s1, z1 = self.q(i1)
        s2, z2 = self.q(i2)
        so, zo = self.q(io)
        left_shift = 20
        twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
        m1, sh1 = quantize_multiplier(float(s1) / twice_max)
        m2, sh2 = quantize_multiplier(float(s2) / twice_max)
        mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * float(so)))
        lo, hi = self.act(op, io)
        self.emit(op, "ADD", [self.tensor(i1, op), self.tensor(i2, op), self.tensor(io, op),
                              -z1, -z2, zo, left_shift, m1, sh1, m2, sh2, mo, sho, lo, hi])

    def op_mean(self, op: Op):
        i_in, i_ax, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
        t_in = self.m.tensors[i_in]
        if not self.m.tensors[i_ax].is_constant:
            raise self.fail(op, "non-constant axis")
        rank = len(t_in.shape)
        axes = {int(a) % rank for a in self.m.constant(i_ax).reshape(-1)}
        mask = sum(1 << a for a in axes)
        count = int(np.prod([t_in.shape[a] for a in axes]))
        s_in, z_in = self.q(i_in)
        s_out, z_out = self.q(i_out)
        mult, shift = quantize_multiplier(float(s_in) / float(s_out))
        # fold 1/count into the multiplier as TFLM's integer mean does
        sh = (count.bit_length() - 1) if count > 0 else 0
        sh = min(sh, 32, 31 + shift)
        mult = int((mult << sh) // count) if sh >= 0 else mult
        shift = shift - sh
        self.emit(op, "MEAN", [self.tensor(i_in, op), self.tensor(i_out, op), mask, z_in, z_out, mult, shift])

    def op_pad(self, op: Op):
        i_in, i_pad, i_out = op.inputs[0], op.inputs[1], op.outputs[0]
        t_in = self.m.tensors[i_in]
        if not self.m.tensors[i_pad].is_constant:
            raise self.fail(op, "non-constant paddings")
        pads = self.m.constant(i_pad).reshape(-1, 2)
        if len(pads) != len(t_in.shape):
            raise self.fail(op, "paddings rank does not match the input")
        # like TFLM: input values are copied as they are, the padding is the output zero point
        before = [0] * (MAX_DIMS - len(pads)) + [int(p[0]) for p in pads]
        if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
            value = int(self.m.constant(op.inputs[2]).reshape(-1)[0])
        else:
            value = self.q(i_out)[1]
        self.emit(op, "PAD", [self.tensor(i_in, op), self.tensor(i_out, op), value] + before)

    op_padv2 = op_pad

    def op_reshape(self, op: Op):
        i_in, i_out = op.inputs[0], op.outputs[0]
        dt = ("INT8", "FLOAT32")
        a, b = self.tensor(i_in, op, dt), self.tensor(i_out, op, dt)
        if self.tensors[a].nbytes != self.tensors[b].nbytes:
            raise self.fail(op, "element counts differ")
        if self.tensors[a].storage == STORE_ARENA:
            self.alias[b] = a
        self.emit(op, "RESHAPE", [a, b])

    op_squeeze = op_reshape
    op_expand_dims = op_reshape

    def op_concatenation(self, op: Op):
        i_out = op.outputs[0]
        t_out = self.m.tensors[i_out]
        if int(getattr(op.options, "fusedActivationFunction", 0) or 0) != 0:
            raise self.fail(op, "fused activation on CONCATENATION is not supported")
        rank = len(t_out.shape)
        axis = int(op.options.axis) % rank if rank else 0
        outer = int(np.prod(t_out.shape[:axis], dtype=np.int64))
        words = [self.tensor(i_out, op), len(op.inputs), outer]
        for i in op.inputs:
            t = self.m.tensors[i]
            if len(t.shape) != rank:
                raise self.fail(op, "inputs of different ranks")
            words += [self.tensor(i, op), int(np.prod(t.shape[axis:], dtype=np.int64))]
        self.emit(op, "CONCATENATION", words)

    def op_softmax(self, op: Op):
        i_in, i_out = op.inputs[0], op.outputs[0]
        s_in, _ = self.q(i_in)
        s_out, z_out = self.q(i_out)
        if z_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
            raise self.fail(op, "int8 softmax needs output scale 1/256 and zero point -128")
        beta = float(np.float32(op.options.beta if op.options is not None else 1.0))
        real = min(beta * float(s_in) * float(1 << 26), float((1 << 31) - 1))
        mult, left = quantize_multiplier(real)
        if left < 0:
            raise self.fail(op, "softmax input scale too small")
        radius = math.floor(1.0 * ((1 << 5) - 1) * float(1 << 26) / float(1 << left))
        self.emit(op, "SOFTMAX", [self.tensor(i_in, op), self.tensor(i_out, op), mult, left, -int(radius)])

    def op_quantize(self, op: Op):
        i_in, i_out = op.inputs[0], op.outputs[0]
        t_in = self.m.tensors[i_in]
        s_out, z_out = self.q(i_out)
        if t_in.dtype == "FLOAT32":
            self.emit(op, "QUANTIZE", [self.tensor(i_in, op, ("FLOAT32",)), self.tensor(i_out, op),
                                       z_out, float_bits(s_out)])
        elif t_in.dtype == "INT8":
            s_in, z_in = self.q(i_in)
            mult, shift = quantize_multiplier(float(s_in) / float(s_out))
            self.emit(op, "REQUANTIZE", [self.tensor(i_in, op), self.tensor(i_out, op), z_in, z_out, mult, shift])
        else:
            raise self.fail(op, f"QUANTIZE from {t_in.dtype} is not supported")

    def op_dequantize(self, op: Op):
        i_in, i_out = op.inputs[0], op.outputs[0]
        s_in, z_in = self.q(i_in)
        self.emit(op, "DEQUANTIZE", [self.tensor(i_in, op), self.tensor(i_out, op, ("FLOAT32",)),
                                     z_in, float_bits(s_in)])

    # planning + serialisation --------------------------------------------
    def plan(self, in_t: int, out_t: int) -> int:
        n_ops = len(self.ops)
        root = {}

        def find(t):
            while t in self.alias:
                t = self.alias[t]
            return t

        first: dict[int, int] = {}
        last: dict[int, int] = {}
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(self.tensors):
            if t.storage == STORE_ARENA:
                r = find(i)
                root[i] = r
                groups.setdefault(r, []).append(i)
        for k, (_, _, words) in enumerate(self.ops):
            for w in _tensor_words(self.ops[k][1], words):
                if w >= 0 and w in root:
                    r = root[w]
                    first[r] = min(first.get(r, k), k)
                    last[r] = max(last.get(r, k), k)
        first[root[in_t]] = -1
        last[root[out_t]] = n_ops
        roots = sorted(groups)
        sizes = [max(self.tensors[i].nbytes for i in groups[r]) for r in roots]
        lifetimes = [(first.get(r, -1), last.get(r, n_ops)) for r in roots]
        offsets, total = plan_arena(sizes, lifetimes, pinned=roots.index(root[in_t]))
        assert offsets[roots.index(root[in_t])] == 0
        for r, off in zip(roots, offsets):
            for i in groups[r]:
                self.tensors[i].offset = off
        return total

    def serialize(self, in_t: int, out_t: int, arena_size: int) -> bytes:
        n_t = len(self.tensors)
        tensors_off = HEADER_SIZE
        ops_off = tensors_off + n_t * TENSOR_RECORD
        ops_blob = b"".join(struct.pack("<HH", code, len(w)) + struct.pack(f"<{len(w)}i", *w)
                            for _, code, w in self.ops)
        data_off = _align(ops_off + len(ops_blob), DATA_ALIGN)
        data = bytearray()
        for t in self.tensors:
            if t.storage == STORE_BLOB:
                pad = _align(data_off + len(data), DATA_ALIGN) - (data_off + len(data))
                data += b"\0" * pad
                t.offset = data_off + len(data)
                data += t.data
        total = _align(data_off + len(data), 4)
        data += b"\0" * (total - data_off - len(data))
        table = b"".join(_pack_tensor(t) for t in self.tensors)
        body = table + ops_blob + b"\0" * (data_off - ops_off - len(ops_blob)) + bytes(data)
        hdr = _HEADER.pack(MAGIC, VERSION, HEADER_SIZE, total, 0, arena_size, n_t, len(self.ops),
                           tensors_off, ops_off, len(ops_blob), data_off, 0)
        hdr += _pack_io(in_t, self.tensors[in_t]) + _pack_io(out_t, self.tensors[out_t])
        hdr += b"\0" * (HEADER_SIZE - len(hdr))
        blob = bytearray(hdr + body)
        assert len(blob) == total
        crc = zlib.crc32(bytes(blob[CRC_START:])) & 0xFFFFFFFF
        struct.pack_into("<I", blob, 12, crc)
        return bytes(blob)


# which param words are tensor indices, per opcode
_TENSOR_FIELDS = {1: (0, 1, 2, 3, 4, 5), 2: (0, 1, 2, 3, 4, 5), 3: (0, 1, 2, 3, 4, 5), 4: (0, 1),
                  5: (0, 1), 6: (0, 1, 2), 7: (0, 1), 8: (0, 1), 9: (0, 1), 10: (0, 1), 11: (0, 1),
                  12: (0, 1), 13: (0, 1)}


def _tensor_words(opcode: int, words: list[int]) -> list[int]:
    if opcode == OPCODES["CONCATENATION"]:  # output, n, outer, (tensor, chunk) * n
        return [words[0]] + words[3::2]
    return [words[i] for i in _TENSOR_FIELDS[opcode]]


def _dims6(shape) -> list[int]:
    return list(shape) + [0] * (MAX_DIMS - len(shape))


def _pack_tensor(t: BlobTensor) -> bytes:
    return _TENSOR.pack(t.dtype, len(t.shape), t.storage, 0, *_dims6(t.shape), t.offset, t.nbytes,
                        t.zero_point, float_bits(t.scale))


def _pack_io(index: int, t: BlobTensor) -> bytes:
    return _IO.pack(index, t.dtype, len(t.shape), *_dims6(t.shape), float_bits(t.scale), t.zero_point)


def from_tflite(model: TfliteModel | bytes | str | Path, source: str | None = None) -> ModelBlob:
    """Convert an int8 .tflite (path, bytes or parsed model) into a ModelBlob.

    ModelError names the op and the model when something is not supported."""
    if isinstance(model, (str, Path)):
        source = source or str(model)
    if not isinstance(model, TfliteModel):
        model = read_tflite(model)
    where = source or "<bytes>"
    b = _Builder(model, where)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"expected one input and one output, found {len(model.inputs)} and "
                         f"{len(model.outputs)} in model {where}")
    unsupported = sorted({op.name for op in model.ops if op.name not in SUPPORTED_OPS})
    if unsupported:
        op = next(op for op in model.ops if op.name in unsupported)
        raise ModelError(f"unsupported op {op.name} (op #{op.index}) in model {where}; "
                         f"supported: {', '.join(SUPPORTED_OPS)}")
    in_t = b.tensor(model.inputs[0], None, ("INT8", "FLOAT32"))
    for op in model.ops:
        b.add_op(op)
    out_t = b.tensor(model.outputs[0], None, ("INT8", "FLOAT32"))
    if not b.ops:
        raise ModelError(f"model {where} has no ops")
    arena = b.plan(in_t, out_t)
    data = b.serialize(in_t, out_t, arena)
    return ModelBlob(data=data, header=parse_header(data, where), op_names=[n for n, _, _ in b.ops],
                     tflite_size=model.size_bytes, source=where, tensors=b.tensors)


# --------------------------------------------------------------------------
# host-side validation of a blob


def parse_header(data: bytes, where: str = "<blob>") -> BlobHeader:
    """Parse and validate a blob header (magic, version, size, CRC) -> BlobHeader."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise ModelError(f"blob {where} is truncated: {len(data)} bytes, the header alone is {HEADER_SIZE}")
    (magic, version, header_size, total, crc, arena, n_t, n_ops, t_off, o_off, o_size, d_off,
     _flags) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ModelError(f"blob {where} has bad magic {magic!r} (expected {MAGIC!r})")
    if version != VERSION:
        raise ModelError(f"blob {where} has format version {version}; this runtime reads version {VERSION}")
    if header_size != HEADER_SIZE:
        raise ModelError(f"blob {where} has header size {header_size} (expected {HEADER_SIZE})")
    if total > len(data):
        raise ModelError(f"blob {where} is truncated: header says {total} bytes, got {len(data)}")
    if total < HEADER_SIZE or total % 4:
        raise ModelError(f"blob {where} has a bad total size {total}")
    actual = zlib.crc32(data[CRC_START:total]) & 0xFFFFFFFF
    if actual != crc:
        raise ModelError(f"blob {where} is corrupted: CRC-32 {actual:#010x} != header {crc:#010x}")
    if not (HEADER_SIZE <= t_off and t_off + n_t * TENSOR_RECORD <= o_off and o_off + o_size <= d_off <= total):
        raise ModelError(f"blob {where} has inconsistent table offsets")
    io = []
    for k in range(2):
        tensor, dtype, ndim, *rest = _IO.unpack_from(data, _HEADER.size + k * _IO.size)
        dims, scale_bits, zp = rest[:6], rest[6], rest[7]
        if dtype not in DTYPE_NAMES or ndim > MAX_DIMS or tensor >= n_t:
            raise ModelError(f"blob {where} has a bad {'output' if k else 'input'} descriptor")
        scale = struct.unpack("<f", struct.pack("<I", scale_bits))[0]
        io.append((tensor, DTYPE_NAMES[dtype], tuple(dims[:ndim]), scale, zp))
    return BlobHeader(version, total, crc, arena, n_t, n_ops, t_off, o_off, o_size, d_off,
                      *io[0], *io[1])


def load_blob(data: bytes | str | Path) -> ModelBlob:
    """Read a blob from bytes or a file, validating it (ModelError when bad)."""
    where = "<bytes>"
    if isinstance(data, (str, Path)):
        where = str(data)
        try:
            data = Path(data).read_bytes()
        except OSError as e:
            raise ModelError(f"cannot read blob {where}: {e.strerror}") from None
    hdr = parse_header(data, where)
    names = []
    pos = hdr.ops_offset
    for _ in range(hdr.n_ops):
        if pos + 4 > hdr.ops_offset + hdr.ops_size:
            raise ModelError(f"blob {where} has a truncated op table")
        code, n = struct.unpack_from("<HH", data, pos)
        if code not in OPCODE_NAMES:
            raise ModelError(f"blob {where} contains unsupported op code {code}")
        names.append(OPCODE_NAMES[code])
        pos += 4 + 4 * n
    return ModelBlob(data=bytes(data[:hdr.total_size]), header=hdr, op_names=names, source=where)
