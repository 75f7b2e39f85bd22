"""Model slots for over-the-air updates: the slot header that precedes a model blob in flash.

Mirrors firmware/runtime/slots.h (which owns the runtime version and the slot status codes; they
are read from it here).  A slot = 128-byte slot header + the blob; the firmware runs the valid slot
with the highest version and reports each slot's status in its mailbox (words 16-27).

    header (128 B)  magic "ATSL", format 1, header size, version major/minor/patch (u16 each),
                    blob size, CRC-32 of the blob, signature (CRC-32 of the input and output types
                    and shapes), minimum runtime version, SHA-256 of the blob, CRC-32 of the header

Knows bytes, not boards: the slot size and count come from autotiny.firmware.layout.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

from autotiny.errors import ConfigError, ModelError

SLOT_MAGIC = b"ATSL"
SLOT_FORMAT = 1
SLOT_HEADER_SIZE = 128
_HEADER = struct.Struct("<4sHHHHHHIIII32s60s")  # ... reserved, then the header CRC-32
assert _HEADER.size == SLOT_HEADER_SIZE - 4
BLOB_IO = (44, 80)  # offsets of the blob header's input and output descriptors (autotiny.blob.format)
SLOT_NONE = 0xFFFFFFFF  # mailbox: no slot header anywhere, a bare blob runs


def _slots_h() -> str:
    from autotiny.config import package_dir

    return (package_dir("firmware") / "runtime" / "slots.h").read_text()


@lru_cache(maxsize=1)
def runtime_version() -> int:
    """The firmware runtime's version, 0x00MMmmpp (AT_RUNTIME_VERSION in slots.h)."""
    return int(re.search(r"#define AT_RUNTIME_VERSION (0x[0-9A-Fa-f]+)u", _slots_h()).group(1), 16)


@lru_cache(maxsize=1)
def slot_status_names() -> dict[int, str]:
    """Slot status code → its meaning, from the enum's comments in slots.h."""
    return {int(v): why.strip() for v, why in re.findall(r"AT_SLOT_\w+ = (\d+),?\s*/\* (.*?) \*/", _slots_h())}


@lru_cache(maxsize=1)
def no_slot_status() -> int:
    return int(re.search(r"#define AT_STATUS_NO_SLOT (0x[0-9A-Fa-f]+)u", _slots_h()).group(1), 16)


def runtime_text(v: int) -> str:
    return f"{v >> 16 & 0xFF}.{v >> 8 & 0xFF}.{v & 0xFF}"


def parse_version(text: str, key: str = "version") -> tuple[int, int, int]:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", str(text).strip())
    if not m or any(int(p) > 0xFFFF for p in m.groups()):
        raise ConfigError(f"{key}={text}: not a semantic version MAJOR.MINOR.PATCH (each 0-65535), e.g. 1.2.0")
    return tuple(int(p) for p in m.groups())  # type: ignore[return-value]


def version_text(v: tuple[int, int, int]) -> str:
    return ".".join(map(str, v))


def signature(blob: bytes) -> int:
    """CRC-32 of the blob's input and output dtype, rank and dims (bytes 2..27 of each descriptor):
    what the application's buffers are sized for.  Quantisation is not part of it: an application
    reads the running model's scale and zero point (model_spec.h says how)."""
    return zlib.crc32(b"".join(blob[o + 2:o + 28] for o in BLOB_IO)) & 0xFFFFFFFF


@dataclass(frozen=True)
class SlotHeader:
    version: tuple[int, int, int]
    blob_size: int
    blob_crc32: int
    signature: int
    min_runtime: int
    sha256: bytes

    def pack(self) -> bytes:
        body = _HEADER.pack(SLOT_MAGIC, SLOT_FORMAT, SLOT_HEADER_SIZE, *self.version, 0, self.blob_size,
                            self.blob_crc32, self.signature, self.min_runtime, self.sha256, bytes(60))
        return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def header_for(blob: bytes, version: tuple[int, int, int], min_runtime: int | None = None) -> SlotHeader:
    return SlotHeader(version=version, blob_size=len(blob), blob_crc32=zlib.crc32(blob) & 0xFFFFFFFF,
                      signature=signature(blob), sha256=hashlib.sha256(blob).digest(),
                      min_runtime=runtime_version() if min_runtime is None else min_runtime)


def slot_image(blob: bytes, version: tuple[int, int, int], min_runtime: int | None = None) -> bytes:
    """What one slot holds: the slot header, then the blob (what an updater writes to a free slot)."""
    return header_for(blob, version, min_runtime).pack() + bytes(blob)


def parse(image: bytes, where: str = "<slot image>") -> tuple[SlotHeader, bytes]:
    """A slot image → (its header, its blob); ModelError when the header or content is bad."""
    if len(image) < SLOT_HEADER_SIZE:
        raise ModelError(f"{where}: {len(image)} B is shorter than a slot header ({SLOT_HEADER_SIZE} B)")
    body = image[:SLOT_HEADER_SIZE - 4]
    (magic, fmt, size, major, minor, patch, _, blob_size, crc, sig, min_rt, sha, _) = _HEADER.unpack(body)
    if magic != SLOT_MAGIC or fmt != SLOT_FORMAT or size != SLOT_HEADER_SIZE:
        raise ModelError(f"{where}: not a model slot image (magic {magic!r}, format {fmt})")
    if struct.unpack_from("<I", image, SLOT_HEADER_SIZE - 4)[0] != zlib.crc32(body) & 0xFFFFFFFF:
        raise ModelError(f"{where}: slot header CRC-32 mismatch")
    blob = bytes(image[SLOT_HEADER_SIZE:SLOT_HEADER_SIZE + blob_size])
    if len(blob) != blob_size or zlib.crc32(blob) & 0xFFFFFFFF != crc:
        raise ModelError(f"{where}: content CRC-32 mismatch (corrupted or truncated)")
    return SlotHeader((major, minor, patch), blob_size, crc, sig, min_rt, sha), blob
