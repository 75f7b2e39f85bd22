"""Config composition and validation: every bad input is one line naming the key, exit code 2."""

import subprocess
import sys

import pytest

from autotiny.cli import main
from autotiny.config import compose, group_options
from autotiny.errors import ConfigError


def test_defaults_compose_and_budget_derives_from_board():
    cfg = compose([])
    assert cfg.task.name == "kws" and cfg.board.name == "stm32f746"
    assert cfg.budget.ram_bytes(cfg.board) == cfg.board.ram_kb * 1024
    assert cfg.budget.flash_bytes(cfg.board) == cfg.board.flash_kb * 1024
    assert cfg.search.storage_url().endswith(f"{cfg.search.study_name}.db")


def test_overrides_from_the_issue():
    cfg = compose(["search.n_trials=40", "budget.ram_kb=64", "budget.flash_kb=128", "search.seed=3",
                   "board=nrf52840"])
    assert cfg.search.n_trials == 40 and cfg.search.seed == 3
    assert cfg.budget.ram_bytes(cfg.board) == 64 * 1024 and cfg.budget.flash_bytes(cfg.board) == 128 * 1024
    assert cfg.board.clock_hz == 64_000_000


def test_a_task_can_set_its_default_objectives():
    # task=anomaly ranks by AUC unless the command line names objectives; the others keep accuracy
    assert compose(["task=anomaly"]).search.objectives == ["auc", "flash", "ram"]
    assert compose(["task=fault"]).search.objectives == ["accuracy", "flash", "ram"]
    assert compose(["search.objectives=[cost,flash]", "task=anomaly"]).search.objectives == ["cost", "flash"]
    assert compose(["task=anomaly", "task.costs.miss={fault:3}"]).task.costs.miss == {"fault": 3}
    with pytest.raises(ConfigError, match="search.pruner=median .* needs accuracy among search.objectives"):
        compose(["task=anomaly", "search.pruner=median"])


def test_budget_fraction_group():
    cfg = compose(["budget=half", "board=stm32l4r5"])
    assert cfg.budget.ram_bytes(cfg.board) == 320 * 1024


def test_every_board_has_sourced_power():
    for name in group_options("board"):
        b = compose([f"board={name}"]).board
        assert b.active_power_source and b.cycles_per_mac_source


@pytest.mark.parametrize("override, expected", [
    ("task=asr", "task=asr: unknown task; available: "),  # the conf/task/ files
    ("board=esp32", "board=esp32: unknown board; available: nrf52840, stm32f746, stm32l4r5"),
    ("budget.ram_kbb=3", "unknown key 'budget.ram_kbb'"),
    ("budget.ram_kb=-1", "budget.ram_kb=-1: Input should be greater than 0"),
    ("budget.ram_kb=999", "budget.ram_kb=999 exceeds stm32f746's RAM of 320 KB"),
    ("budget.flash_kb=4096", "budget.flash_kb=4096 exceeds stm32f746's flash of 1024 KB"),
    ("search.sampler=grid", "search.sampler='grid'"),
    ("emulator=renode", "emulator=renode: unknown emulator; available: builtin, estimate"),
    ("emulator.max_instructions=-3", "emulator.max_instructions=-3"),
    ("search.n_trials=0", "search.n_trials=0"),
    ("nonsense", "must look like key=value"),
    ("budget.latency_ms=inf", "budget.latency_ms=inf: Input should be a finite number (use null for no limit)"),
    ("budget.energy_uj=nan", "budget.energy_uj=nan: Input should be a finite number"),
    ("budget.ram_kb=inf", "budget.ram_kb=inf: Input should be a finite number"),
])
def test_bad_input_is_one_line(override, expected):
    with pytest.raises(ConfigError) as e:
        compose([override])
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


def test_cli_exit_code_2_without_traceback_and_without_tensorflow():
    code = ("import sys; from autotiny.cli import main; rc = main(['search', 'budget.ram_kb=-5']); "
            "assert 'tensorflow' not in sys.modules, 'validation must not import TF'; sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip() == "autotiny: error: budget.ram_kb=-5: Input should be greater than 0"
    assert "Traceback" not in p.stderr


def test_cli_usage_and_unknown_command(capsys):
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err

