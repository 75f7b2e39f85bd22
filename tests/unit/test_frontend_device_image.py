"""The image front-end on the device (firmware/frontends/image.c: Pillow's bilinear resize, / 255)
against the numpy one (autotiny/frontends/image.py, Pillow itself) on generated pictures and
MNIST-sized ones; its cost figures."""

from __future__ import annotations

import numpy as np
import pytest

from autotiny.evaluate import quantize_input
from autotiny.frontends import device_tables
from autotiny.frontends.image import ImageParams, image

# device (float32 taps and sums) vs Pillow (float64 taps, float32 between the passes), on [0, 1]:
# max |Δ| 1.2e-7 (one float32 step below 1) on this test's generated pictures; bound with margin.
TOLERANCE = 1e-5


def picture(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    x = rng.uniform(0, 120) * xx / w + rng.uniform(60, 200) * ((yy - h * rng.uniform(0.3, 0.7)) ** 2 +
                                                                (xx - w * rng.uniform(0.3, 0.7)) ** 2 < (h / 4) ** 2)
    return np.clip(x + rng.normal(0, 20, (h, w)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("n_in,n_out", [(28, 14), (28, 20), (8, 28), (40, 28), (28, 28)])
def test_resize_weights_are_pillows(n_in, n_out):
    """The generated taps reproduce Pillow's BILINEAR resize (what the numpy front-end calls)."""
    start, count, k = device_tables.resize_weights(n_in, n_out)
    w = np.zeros((n_out, n_in))
    at = 0
    for i, (s, n) in enumerate(zip(start, count)):
        w[i, s:s + n] = k[at:at + n]
        at += n
    x = picture(0, n_in, n_in).astype(np.float32)
    ours = (w @ (x.astype(np.float64) @ w.T).astype(np.float32)).astype(np.float32) / np.float32(255)
    ref = image(x[None], ImageParams(size=n_out))[0]
    assert np.abs(ours - ref).max() < TOLERANCE


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("source,size", [((28, 28), 14), ((20, 32), 28)])
def test_device_image_front_end_matches_numpy(source, size):
    from autotiny.config import compose
    from autotiny.firmware import stack_reservation
    from autotiny.frontends import device

    board = compose(["board=stm32f746"]).board
    p = ImageParams(size=size)
    scale, zp = 1 / 255, -128  # a [0, 1] input as the int8 converter calibrates it
    for seed in (1, 2):
        x = picture(seed, *source)
        ref = image(x[None].astype(np.float32), p)[0]
        run = device.run_input(board, "image", p, x, hint=source, scale=scale, zero_point=zp, want_float=True)
        assert run.float_features.shape == ref.shape == (size, size)
        assert np.abs(run.float_features - ref).max() < TOLERANCE
        assert (run.features == quantize_input(run.float_features, scale, zp)).all()
        assert np.abs(run.features.astype(int) - quantize_input(ref, scale, zp)).max() <= 1
    cost = device.measure(board, p, frontend="image", hint=source)
    assert cost.audio_bytes == source[0] * source[1]  # the uint8 picture
    assert cost.peak_stack >= 4 * source[0] * size  # the horizontal pass's rows
    assert cost.ram_bytes == cost.audio_bytes + cost.static_ram + stack_reservation(cost.peak_stack)


def test_raw_shape_is_the_pictures_source(tmp_path):
    """Task.raw_shape: what the device receives before the front-end (8×8 digits, a folder's png size)."""
    from PIL import Image

    from autotiny.config import compose
    from autotiny.tasks import get_task

    assert get_task(compose(["task=vision", "task.dataset=digits"]).task).raw_shape(None) == (8, 8)
    for c in ("absent", "present"):
        (tmp_path / c).mkdir()
        Image.fromarray(picture(3, 20, 32)).save(tmp_path / c / "a.png")
    cfg = compose(["task=object_present", f"data.root={tmp_path}"])
    assert get_task(cfg.task).raw_shape(cfg) == (20, 32)
    assert get_task(compose([]).task).raw_shape(None) is None  # kws: the clip length is in the params


@pytest.mark.needs_arm_gcc
def test_vision_candidate_budget_counts_the_image_front_end():
    """A vision candidate's measurement is network + the image front-end on its task's source size
    (digits: 8×8 resized to the candidate's 12×12), in every figure the budget judges."""
    from types import SimpleNamespace

    from autotiny.config import compose
    from autotiny.errors import AutotinyError
    from autotiny.frontends import device
    from autotiny.measure.backend import measure
    from tests.tflite_builder import ModelBuilder, options

    b = ModelBuilder()
    x = b.tensor((1, 12, 12, 1), scale=1 / 255, zero_point=-128)
    y = b.tensor((1, 1, 1, 1), scale=1 / 255, zero_point=-128)
    b.op("AVERAGE_POOL_2D", [x], [y], options("Pool2DOptionsT", padding=1, strideH=1, strideW=1,
                                              filterHeight=12, filterWidth=12))
    model = b.build([x], [y])
    cfg = compose(["task=vision", "task.dataset=digits", "board=stm32l4r5"])
    p = ImageParams(size=12)
    assert "image" in device.DEVICE_FRONTENDS
    net = measure(model, cfg)
    both = measure(model, cfg, spec=SimpleNamespace(frontend="image", frontend_params=p, sparsity=0.0))
    fe = device.cost(cfg.board, p, "image", (8, 8))
    assert fe.audio_bytes == 8 * 8 and both.frontend["audio_bytes"] == 64  # the digits' uint8 picture
    assert both.frontend_cycles.value == fe.cycles > 0 and both.cycles == net.cycles
    assert both.latency_ms.value == pytest.approx(net.latency_ms.value + both.frontend_latency_ms.value)
    assert both.energy_uj.value == pytest.approx(net.energy_uj.value + both.frontend_energy_uj.value)
    assert both.flash_bytes.value == net.flash_bytes.value + both.frontend_flash_bytes.value
    assert both.ram_bytes.value == net.ram_bytes.value + both.frontend_ram_bytes.value
    with pytest.raises(AutotinyError, match="source"):  # no source size, no cost
        device.with_frontend(net, cfg.board, "image", p, model=model)
    with pytest.raises(AutotinyError, match="writes 14x14 features"):  # the size comes from the candidate
        device.with_frontend(net, cfg.board, "image", ImageParams(size=14), model=model, raw_shape=(8, 8))
