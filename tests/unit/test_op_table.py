"""One op table per side, and they agree.

Python: autotiny.blob.ops, filled by the lowering modules in autotiny/blob/lower/.
C: firmware/runtime/op_table.c, queried through the host library.  Everything else that
names the op set (README table, tests, the estimate backend's refusal) reads one of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from autotiny import blob, runtime
from autotiny.errors import ModelError
from tests.tflite_builder import ModelBuilder

ROOT = Path(__file__).resolve().parents[2]


def test_c_and_python_op_tables_agree():
    assert runtime.op_table() == blob.OPCODE_NAMES


def test_c_and_python_status_names_agree():
    lib = runtime.library()
    assert {code: lib.at_status_name(code).decode() for code in blob.STATUS_NAMES} == blob.STATUS_NAMES


def test_every_lowering_emits_registered_ops_and_every_blob_op_is_reachable():
    emitted = {op.name for lw in blob.LOWERINGS.values() for op in lw.emits}
    assert emitted == set(blob.OPCODES)
    assert all(blob.BLOB_OPS[op.name] is op for lw in blob.LOWERINGS.values() for op in lw.emits)


def test_op_set_is_spelled_nowhere_else_in_the_c_runtime():
    """Op names appear in op_table.c (and comments); no other C file switches on op codes."""
    names = "|".join(sorted(blob.OPCODES, key=len, reverse=True))
    for path in sorted((ROOT / "firmware").glob("*/**/*.[ch]")):
        if path.name == "op_table.c":
            continue
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        assert not re.search(rf"\bAT_OP_({names})\b", code), path.name
        assert "switch (opcode)" not in code, path.name


def test_every_blob_op_has_a_bit_exactness_property_test():
    from tests.contract import test_runtime_ops, test_runtime_ops_16x8, test_sparse_blob

    tested = {name[len("test_"):].upper() for module in (test_runtime_ops, test_runtime_ops_16x8, test_sparse_blob)
              for name in dir(module) if name.startswith("test_")}
    assert set(blob.OPCODES) <= tested, set(blob.OPCODES) - tested


def test_readme_op_table_is_the_generated_one():
    text = (ROOT / "firmware" / "README.md").read_text()
    assert blob.markdown_table() in text, "regenerate: python -m autotiny.blob"


def _sin_model() -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, 4), scale=0.1, zero_point=0)
    y = b.tensor((1, 4), scale=0.1, zero_point=0)
    b.op("SIN", [x], [y])
    return b.build([x], [y])


def test_unsupported_op_message_lists_the_table():
    with pytest.raises(ModelError) as e:
        blob.from_tflite(_sin_model())
    assert "unsupported op SIN (op #0) in model <bytes>" in str(e.value)
    assert str(e.value).endswith("supported: " + ", ".join(blob.SUPPORTED_OPS))


@pytest.mark.parametrize("emulator", ["estimate", "builtin"])
def test_both_backends_refuse_an_unsupported_op_alike(emulator):
    from autotiny.config import compose
    from autotiny.measure.backend import measure

    cfg = compose(["board=nrf52840", f"emulator={emulator}"])
    with pytest.raises(ModelError) as e:
        measure(_sin_model(), cfg)
    with pytest.raises(ModelError) as reference:
        blob.from_tflite(_sin_model())
    assert str(e.value) == str(reference.value)


def test_mac_counts_come_from_the_op_table():
    from autotiny.tflite_model import MAC_RULES, read_tflite

    assert set(MAC_RULES) == {n for n, lw in blob.LOWERINGS.items() if lw.macs is not None}
    b = ModelBuilder()
    x = b.tensor((1, 3), scale=0.1, zero_point=0)
    w = b.tensor((5, 3), scale=0.01, zero_point=0, data=np.ones((5, 3), np.int8))
    y = b.tensor((1, 5), scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w, -1], [y])
    assert read_tflite(b.build([x], [y])).macs() == 15
