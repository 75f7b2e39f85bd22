"""The op table: every op the runtime supports, in one place on the Python side.

The rows are written by the lowering modules in autotiny/blob/lower/ (one module per op
family, each registering its own ops when imported; the package imports them all, so a
new module is a new op and nothing else lists them):

  blob ops   name -> op code (the number in the blob and in firmware/runtime/op_table.c),
             which parameter words are tensor indices (for the arena plan), doc notes
  lowerings  TFLite op name -> the function turning one TFLite op into blob op records,
             the blob ops it may emit, its multiply-accumulate count

Everything else that needs the op set reads it here: the converter's support check and
its error message, the blob loader's op names, the estimate backend (it converts, so it
refuses what the built-in backend refuses), MAC counting (autotiny.tflite_model), the op
list in firmware/README.md (generated: `python -m autotiny.blob`), and
tests/unit/test_op_table.py, which checks the C table (firmware/runtime/op_table.c) agrees.

Knows no blob layout and no TFLM arithmetic; the lowering functions do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from autotiny import tflite_model
from autotiny.errors import ModelError


@dataclass(frozen=True)
class BlobOp:
    """One op of the blob format (a row of the C op table)."""

    name: str
    opcode: int
    tensors: tuple[int, ...] | Callable[[Sequence[int]], list[int]]  # positions of tensor indices
    notes: str = ""  # for the docs table
    int16: bool = False  # a 16x8 row: linked into the firmware only for models that use one (AT_WITH_16X8)
    sparse: bool = False  # the sparse-filter decoder: linked likewise only when used (AT_WITH_SPARSE)

    def tensor_words(self, words: Sequence[int]) -> list[int]:
        if callable(self.tensors):
            return list(self.tensors(words))
        return [words[i] for i in self.tensors]


@dataclass(frozen=True)
class Lowering:
    """How one TFLite op becomes blob op records."""

    tflite_name: str
    lower: Callable  # (autotiny.blob.builder.Builder, tflite_model.Op) -> None; calls builder.emit
    emits: tuple[BlobOp, ...]
    macs: Callable | None = None  # (TfliteModel, Op) -> int; None: no weight product


BLOB_OPS: dict[str, BlobOp] = {}  # by name
OPCODES: dict[str, int] = {}  # blob op name -> op code
OPCODE_NAMES: dict[int, str] = {}  # op code -> blob op name
LOWERINGS: dict[str, Lowering] = {}  # TFLite op name -> lowering


def blob_op(name: str, opcode: int, tensors, notes: str = "", int16: bool = False, sparse: bool = False) -> BlobOp:
    """Register a blob op (op codes are part of the blob format: never renumber one).
    `int16`: a row of the 16x8 set (firmware/runtime/op_table.c, under AT_WITH_16X8);
    `sparse`: a row under AT_WITH_SPARSE (autotiny.blob.sparse)."""
    if name in BLOB_OPS or opcode in OPCODE_NAMES:
        raise ValueError(f"blob op {name} / op code {opcode} registered twice")
    if not 0 < opcode < 0x10000:
        raise ValueError(f"op code {opcode} does not fit the u16 of an op record")
    op = BlobOp(name, opcode, tuple(tensors) if not callable(tensors) else tensors, notes, int16, sparse)
    BLOB_OPS[name] = op
    OPCODES[name] = opcode
    OPCODE_NAMES[opcode] = name
    return op


def lowers(*tflite_names: str, emits: Sequence[BlobOp], macs: Callable | None = None):
    """Decorator: `fn(builder, op)` lowers these TFLite ops into (some of) the `emits` blob ops."""

    def register(fn):
        for name in tflite_names:
            if name in LOWERINGS:
                raise ValueError(f"TFLite op {name} lowered twice")
            LOWERINGS[name] = Lowering(name, fn, tuple(emits), macs)
            if macs is not None:
                tflite_model.MAC_RULES[name] = macs
        return fn

    return register


def supported_ops() -> tuple[str, ...]:
    """The TFLite ops the converter accepts, in op-code order."""
    order = list(LOWERINGS)
    return tuple(sorted(order, key=lambda n: (min(o.opcode for o in LOWERINGS[n].emits), order.index(n))))


def unsupported_message(name: str, index: int, where: str) -> str:
    return f"unsupported op {name} (op #{index}) in model {where}; supported: {', '.join(supported_ops())}"


def check_supported(model, where: str = "<bytes>") -> None:
    """ModelError naming the first op of a parsed model that has no lowering."""
    for op in model.ops:
        if op.name not in LOWERINGS:
            raise ModelError(unsupported_message(op.name, op.index, where))


def needs_int16(op_names: Sequence[str]) -> bool:
    """Whether a blob with these ops needs the firmware's 16x8 rows (autotiny.firmware links
    them only then: they cost ~8 KB of flash that an int8 model should not pay)."""
    return any(BLOB_OPS[n].int16 for n in op_names)


def needs_sparse(op_names: Sequence[str]) -> bool:
    """Whether a blob with these ops needs the firmware's sparse-filter decoder (linked only then,
    so a dense model's firmware and flash figure do not change)."""
    return any(BLOB_OPS[n].sparse for n in op_names)


def tensor_words(opcode: int, words: Sequence[int]) -> list[int]:
    """The parameter words of an op record that are tensor indices."""
    return BLOB_OPS[OPCODE_NAMES[opcode]].tensor_words(words)


def markdown_table() -> str:
    """The 'Supported ops' table of firmware/README.md, from this table."""
    rows = ["| blob op | code | from TFLite | notes |", "|---|---|---|---|"]
    for op in sorted(BLOB_OPS.values(), key=lambda o: o.opcode):
        sources = ", ".join(n for n, lw in LOWERINGS.items() if op in lw.emits)
        rows.append(f"| {op.name} | {op.opcode} | {sources} | {op.notes} |")
    return "\n".join(rows) + "\n"

