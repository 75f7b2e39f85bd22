"""Model blob: an int8 .tflite turned into the compact binary the runtime executes.

The blob lives in its own flash region on the device, so a new model never needs a
firmware rebuild.  Everything the kernels need that TFLM computes in Prepare()
(requantization multipliers and shifts, activation ranges, padding) is computed here
with the same double-precision steps and stored in the blob, so the device does no
floating-point set-up; the arena plan is made here too.

    from autotiny import blob
    b = blob.from_tflite("model.tflite")     # ModelError names an unsupported op and the model
    b.save("model.blob"); blob.load_blob("model.blob")

Modules:
    ops        the op table: blob op names and codes, TFLite lowerings, MAC counts
    lower/     one module per op family, each registering its rows in the op table
    builder    the conversion (from_tflite) and the helpers the lowerings share
    quant      TFLM's quantization arithmetic on the host
    planner    the arena plan
    format     the bytes: header, tensor table, op records, data; host-side loader
`python -m autotiny.blob` prints the supported-ops table of firmware/README.md.
"""

from autotiny.blob import lower as _lower  # noqa: F401  (fills the op table)
from autotiny.blob.builder import Builder, from_tflite
from autotiny.blob.format import (ARENA_ALIGN, CRC_START, DATA_ALIGN, DTYPE_NAMES, DTYPES, ELEM_SIZE, HEADER_SIZE,
                                  MAGIC, MAX_DIMS, NP_DTYPES, STATUS_NAMES, STORE_ARENA, STORE_BLOB, TENSOR_RECORD,
                                  VERSION, BlobHeader, BlobTensor, ModelBlob, float_bits, load_blob, parse_header)
from autotiny.blob.ops import (BLOB_OPS, LOWERINGS, OPCODE_NAMES, OPCODES, check_supported, markdown_table,
                               supported_ops)
from autotiny.blob.planner import plan_arena
from autotiny.blob.quant import activation_range, compute_padding, f32, out_size, quantize_multiplier

SUPPORTED_OPS = supported_ops()  # TFLite op names the converter accepts

__all__ = [
    "ARENA_ALIGN", "BLOB_OPS", "CRC_START", "DATA_ALIGN", "DTYPES", "DTYPE_NAMES", "ELEM_SIZE", "HEADER_SIZE",
    "LOWERINGS", "MAGIC", "MAX_DIMS", "NP_DTYPES", "OPCODES", "OPCODE_NAMES", "STATUS_NAMES", "STORE_ARENA",
    "STORE_BLOB", "SUPPORTED_OPS", "TENSOR_RECORD", "VERSION", "BlobHeader", "BlobTensor", "Builder", "ModelBlob",
    "activation_range", "check_supported", "compute_padding", "f32", "float_bits", "from_tflite", "load_blob",
    "markdown_table", "out_size", "parse_header", "plan_arena", "quantize_multiplier", "supported_ops",
]
