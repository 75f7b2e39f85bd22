"""Over-the-air model updates in the emulator: the firmware an export builds (its own Makefile, accepting
only its model's signature) switches to a good update in the other slot; a corrupted, truncated,
oversized, incompatible (signature, runtime), older or badly headed one is refused with its reason in the
mailbox, and the old model keeps answering as the host runtime does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from autotiny import blob as blobs
from autotiny import runtime, slots
from autotiny.measure.protocol import emulate
from tests.e2e.test_export import emulated, kws_like_model, samples, study_with_models

pytestmark = pytest.mark.needs_arm_gcc

ACTIVE, EMPTY, BAD_HEADER, TOO_LARGE, BAD_CRC, RUNTIME_OLD, BAD_SIGNATURE, NO_FIT, OLDER = range(9)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """An export of trial 0 (model v1.0.0) built with its Makefile, on an emulated stm32f746."""
    from autotiny.export import main

    tmp = tmp_path_factory.mktemp("ota")
    args = study_with_models(tmp)
    assert main([*args, "trial=0", f"out={tmp / 'exp'}"]) == 0
    machine, board = emulated(tmp / "exp", "stm32f746")
    return tmp / "exp", machine, board


V1, V2, OTHER = (blobs.from_tflite(kws_like_model(0)), blobs.from_tflite(kws_like_model(1)),
                 blobs.from_tflite(kws_like_model(2, classes=4)))


def run(deployed, images, model):
    """Every sample through the firmware with `images` in its slots; the outputs must be `model`'s."""
    _, machine, board = deployed
    host = runtime.HostModel(model)
    result = None
    for x in samples(model, 3):
        result = emulate(model.data, board, x, on=machine, slots=images)
        assert result.ok, (result.status_name, result.slot_status)
        assert result.output.tobytes() == host.run(x).tobytes()
    return result


def test_the_exported_slot_runs(deployed):
    folder = deployed[0]
    r = run(deployed, [(folder / "model" / "slot0.bin").read_bytes()], V1)
    assert (r.active_slot, r.version, r.slot_status) == (0, (1, 0, 0), [ACTIVE, EMPTY])


def test_a_good_update_switches_and_the_old_one_stays_as_fallback(deployed):
    old = slots.slot_image(V1.data, (1, 0, 0))
    r = run(deployed, [old, slots.slot_image(V2.data, (1, 1, 0))], V2)
    assert (r.active_slot, r.version, r.slot_status) == (1, (1, 1, 0), [OLDER, ACTIVE])
    # the next update goes to the slot not running: A
    r = run(deployed, [slots.slot_image(V1.data, (1, 2, 0)), slots.slot_image(V2.data, (1, 1, 0))], V1)
    assert (r.active_slot, r.slot_status) == (0, [ACTIVE, OLDER])


def _refused(deployed, update: bytes, reason: int):
    r = run(deployed, [slots.slot_image(V1.data, (1, 0, 0)), update], V1)  # the old model answers
    assert (r.active_slot, r.version) == (0, (1, 0, 0))
    assert r.slot_status == [ACTIVE, reason], slots.slot_status_names().get(r.slot_status[1])


def test_bad_updates_are_refused_and_the_old_model_keeps_answering(deployed):
    _, machine, _ = deployed
    slot_size = machine.symbols["__slot_size"]
    good = slots.slot_image(V2.data, (1, 1, 0))
    corrupted = bytearray(good)
    corrupted[slots.SLOT_HEADER_SIZE + len(V2.data) // 2] ^= 0x10
    _refused(deployed, bytes(corrupted), BAD_CRC)
    _refused(deployed, good[:len(good) // 2], BAD_CRC)  # the transfer stopped half way: the rest is erased
    hdr = slots.header_for(V2.data, (1, 1, 0))
    oversized = dataclasses.replace(hdr, blob_size=slot_size).pack() + V2.data  # a blob larger than the slot
    _refused(deployed, oversized, TOO_LARGE)
    _refused(deployed, slots.slot_image(OTHER.data, (2, 0, 0)), BAD_SIGNATURE)  # 4 classes, the app expects 12
    too_new = slots.slot_image(V2.data, (1, 1, 0), min_runtime=slots.runtime_version() + 0x100)
    _refused(deployed, too_new, RUNTIME_OLD)
    bad_header = bytearray(good)
    bad_header[8] ^= 0x01  # the version field, under the header's CRC
    _refused(deployed, bytes(bad_header), BAD_HEADER)
    _refused(deployed, slots.slot_image(V2.data, (0, 9, 0)), OLDER)  # valid but older: not taken


def test_no_valid_slot_is_a_status_not_a_fault(deployed):
    _, machine, board = deployed
    broken = bytearray(slots.slot_image(V1.data, (1, 0, 0)))
    broken[-1] ^= 0xFF
    r = emulate(V1.data, board, on=machine, slots=[bytes(broken), None])
    assert r.fault is None and r.status == slots.no_slot_status() and r.output is None
    assert r.status_name == "no model slot holds a model this firmware can run"
    assert (r.active_slot, r.slot_status) == (-1, [BAD_CRC, EMPTY])


def test_measurement_firmware_takes_any_signature_and_skips_a_model_that_does_not_fit():
    """The firmware autotiny measures with accepts any signature (AT_EXPECTED_SIGNATURE 0); a valid slot
    whose arena does not fit RAM is skipped for the next newest one."""
    from autotiny.config import compose
    from tests.tflite_builder import pad_pool_model

    board = compose(["board=nrf52840"]).board
    huge = blobs.from_tflite(pad_pool_model(320))  # 320x320x4 B of activations > the RAM's arena
    r = emulate(OTHER.data, board, slots=[slots.slot_image(huge.data, (3, 0, 0)), slots.slot_image(OTHER.data, (1, 0, 0))])
    assert r.ok and (r.active_slot, r.slot_status) == (1, [NO_FIT, ACTIVE])
    bare = emulate(OTHER.data, board)  # a bare blob, no slot header: run as a factory image
    assert bare.ok and bare.active_slot == -1 and bare.output.tobytes() == r.output.tobytes()


def test_host_side_slot_images(tmp_path: Path):
    image = slots.slot_image(V1.data, (1, 2, 3))
    hdr, blob = slots.parse(image)
    assert blob == V1.data and hdr.version == (1, 2, 3) and hdr.signature == slots.signature(V2.data)
    assert hdr.signature != slots.signature(OTHER.data)
    for bad in (image[:100], image[:-4], image[:8] + b"\0" + image[9:]):
        with pytest.raises(Exception, match="slot"):
            slots.parse(bad)
    assert set(slots.slot_status_names()) == set(range(9))
    assert np.all([isinstance(v, str) and v for v in slots.slot_status_names().values()])
