"""Search-space files: validation errors name the entry; suggestions map onto params records."""

import optuna
import pytest

from autotiny.errors import ConfigError
from autotiny.models.ds_cnn import DsCnnParams
from autotiny.frontends.mfcc import MfccParams
from autotiny.space import load_space, suggest

GOOD = """
frontend: {type: mfcc, params: {window_ms: {choices: [30, 40]}, n_mels: 40}}
model:
  type: ds_cnn
  params:
    n_blocks: {low: 1, high: 3}
    channels: {choices: [8, 16]}
    first_kernel: {choices: [[10, 4], [3, 3]]}
training: {epochs: {low: 2, high: 4}, learning_rate: {low: 0.001, high: 0.01, log: true}, batch_size: 16}
"""


def write(tmp_path, text):
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p


def test_packaged_kws_space_samples_valid_candidates():
    from autotiny.models import FAMILIES

    space = load_space("kws")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    kernels, families = set(), set()
    for _ in range(100):
        trial = study.ask()
        spec = suggest(space, trial)
        assert isinstance(spec.model_params, FAMILIES[spec.family].params_type)
        assert isinstance(spec.frontend_params, MfccParams)
        families.add(spec.family)
        if spec.family == "ds_cnn":
            assert isinstance(spec.model_params, DsCnnParams) and 1 <= spec.model_params.n_blocks <= 4
            kernels.add(spec.model_params.first_kernel)
        study.tell(trial, 0.0)
    assert families == {"ds_cnn", "tc_resnet", "mobilenet_v1", "cnn", "resnet"}
    assert kernels <= {(10, 4), (5, 3), (3, 3)} and len(kernels) > 1


def test_ranges_choices_and_fixed_values(tmp_path):
    space = load_space(str(write(tmp_path, GOOD)))
    spec = suggest(space, optuna.trial.FixedTrial({
        "frontend.window_ms": 40, "model.n_blocks": 2, "model.channels": 16, "model.first_kernel": "[3, 3]",
        "training.epochs": 3, "training.learning_rate": 0.002}))
    assert spec.frontend_params.window_ms == 40 and spec.frontend_params.n_mels == 40
    assert spec.model_params.first_kernel == (3, 3)
    assert spec.training.batch_size == 16 and spec.training.epochs == 3
    flat = spec.flat()
    assert flat["model.channels"] == 16 and flat["frontend.type"] == "mfcc"


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("channels:", "chanels:"), "model.params.chanels: unknown parameter of ds_cnn"),
    (GOOD.replace("type: ds_cnn", "type: transformer"),
     "model.type: unknown 'transformer'; available: ds_cnn, cnn, "),  # the registry, in its order
    (GOOD.replace("{low: 1, high: 3}", "{low: 5, high: 3}"), "model.params.n_blocks: low=5 is above high=3"),
    (GOOD + "extra: 1\n", "extra: unknown entry"),
    (GOOD + "compression: {quantization: fp16}\n", "compression.quantization: unknown mode 'fp16'"),
    (GOOD.replace("training:", "training: [\n"), "not valid YAML"),
    ("- a list\n", "expected a mapping"),
])
def test_bad_space_names_the_entry(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_space(str(path))
    assert message in str(e.value) and str(path) in str(e.value)


def test_missing_space_file():
    with pytest.raises(ConfigError, match="search space 'nope' not found"):
        load_space("nope")


def test_invalid_combination_is_reported_at_suggestion(tmp_path):
    space = load_space(str(write(tmp_path, GOOD.replace("n_mels: 40", "hop_ms: 50"))))
    with pytest.raises(ConfigError, match="hop"):
        suggest(space, optuna.trial.FixedTrial({
            "frontend.window_ms": 30, "model.n_blocks": 1, "model.channels": 8, "model.first_kernel": "[3, 3]",
            "training.epochs": 2, "training.learning_rate": 0.002}))


FAMILIES_SPACE = """
frontend:
  type: mfcc
  params: {n_mfcc: 10}
model:
  families:
    ds_cnn: {n_blocks: {low: 1, high: 2}, channels: 16}
    tc_resnet: {width: {choices: [0.5, 1.0]}, n_blocks: 2}
    cnn: {}
training: {epochs: 2}
"""


def test_several_families_make_the_family_a_choice_with_conditional_parameters(tmp_path):
    space = load_space(str(write(tmp_path, FAMILIES_SPACE)))
    spec = suggest(space, optuna.trial.FixedTrial({"model.family": "tc_resnet", "model.tc_resnet.width": 0.5}))
    assert spec.family == "tc_resnet" and spec.model_params.width == 0.5 and spec.model_params.n_blocks == 2
    spec = suggest(space, optuna.trial.FixedTrial({"model.family": "ds_cnn", "model.ds_cnn.n_blocks": 2}))
    assert spec.family == "ds_cnn" and spec.model_params.n_blocks == 2 and spec.model_params.channels == 16
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        seen.add(suggest(space, trial).family)
        names = set(trial.params)
        assert all(n.startswith(("model.family", f"model.{trial.params['model.family']}.", "frontend.", "training."))
                   for n in names), names  # only the chosen family's parameters are sampled
    assert seen == {"ds_cnn", "tc_resnet", "cnn"}


@pytest.mark.parametrize("edit, message", [
    (("tc_resnet: {", "tc_resnet: {depth: 3, "), "model.families.tc_resnet.depth: unknown parameter of tc_resnet"),
    (("    cnn: {}", "    lstm: {}"), "model.families.lstm: unknown 'lstm'"),
    (("  families:", "  type: cnn\n  families:"), r"model: give either type \(with params\) or families"),
])
def test_bad_families_name_the_entry(tmp_path, edit, message):
    path = write(tmp_path, FAMILIES_SPACE.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_space(str(path))


def test_ds_cnn_skip_is_a_searchable_choice_that_adds_a_shortcut_per_block(tmp_path):
    from autotiny.models import FAMILIES

    space = load_space(str(write(tmp_path, GOOD.replace("    channels:", "    skip: {choices: [false, true]}\n    channels:"))))
    fixed = {"frontend.window_ms": 30, "model.n_blocks": 3, "model.channels": 8, "model.first_kernel": "[3, 3]",
             "training.epochs": 2, "training.learning_rate": 0.002}
    adds = {}
    for skip in (False, True):
        spec = suggest(space, optuna.trial.FixedTrial({**fixed, "model.skip": skip}))
        assert spec.model_params.skip is skip and spec.flat()["model.skip"] is skip
        model = FAMILIES["ds_cnn"].build((49, 10), 12, spec.model_params, seed=0)
        adds[skip] = sum(type(layer).__name__ == "Add" for layer in model.layers)
        assert model.output_shape == (None, 12)
    assert adds == {False: 0, True: 3}
    bad = load_space(str(write(tmp_path, GOOD.replace("    channels:", "    skip: 3\n    channels:"))))
    with pytest.raises(ConfigError, match=r"skip=3: must be true or false"):
        suggest(bad, optuna.trial.FixedTrial(fixed))


def test_ds_cnn_share_stores_one_block_and_refuses_qat_before_training():
    from autotiny.compress import qat_refusal
    from autotiny.models import FAMILIES
    from autotiny.probe import shape_model

    models = {share: FAMILIES["ds_cnn"].build((49, 10), 12, DsCnnParams(n_blocks=3, channels=16, share=share))
              for share in (False, True)}
    block = 3 * 3 * 16 + 4 * 16 + 16 * 16 + 4 * 16  # depthwise + BN + pointwise + BN
    assert models[False].count_params() - models[True].count_params() == 2 * block
    assert qat_refusal(models[False]) is None
    assert "int8_qat cannot wrap layers used more than once" in qat_refusal(models[True])
    # the shape model writes each call's weights apart, so a shared model takes the converter's path
    assert shape_model(models[True]) is None and shape_model(models[False]) is not None
