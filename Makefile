# Two commands on a fresh machine: `make run` and `make test` (both set up what they need).
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTHON  ?= python3
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)
SHARED  := $(abspath ../shared/data)

# Real data for demos and tests (../shared/data beside the checkout), unless the caller set one.
ifeq ($(origin AUTOTINY_DATA),undefined)
  ifneq ($(wildcard $(SHARED)),)
    export AUTOTINY_DATA := $(SHARED)
  endif
endif
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: setup toolchain browser postgres slurm cmsis-dsp run ui test bench clean
setup: $(VENV)/.stamp toolchain browser postgres slurm cmsis-dsp

$(VENV)/.stamp: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# CMSIS-DSP's C sources (Apache-2.0) for the device front-ends: the PyPI sdist, pinned by version and sha256
# in autotiny/frontends/cmsis_mfcc.py, unpacked into the build cache (.cache/autotiny or $AUTOTINY_CACHE).
cmsis-dsp: $(VENV)/.stamp
	$(PY) -m autotiny.frontends.cmsis_mfcc

# Cross compiler for the firmware (Debian packages, without the 1.6 GB of recommends).
toolchain:
	@command -v arm-none-eabi-gcc >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    gcc-arm-none-eabi libnewlib-arm-none-eabi; }

# Headless Chromium, for the test that renders the MLflow UI's runs page (tests/e2e/test_ui.py).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    chromium fonts-dejavu-core; }

# PostgreSQL server binaries, for sweeps with many workers and their tests (tests/e2e/test_workers.py starts a
# throw-away server on 127.0.0.1 with them; nothing is started here). Debian keeps them in /usr/lib/postgresql/<ver>/bin.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; }

# SLURM (Debian's slurm-wlm 22.05) and munge, for the test that runs a sweep's workers as a job array on a one-node
# cluster (tests/slurm.py starts munged, slurmctld and slurmd on 127.0.0.1 with its own config; nothing is started here).
slurm:
	@command -v slurmctld >/dev/null 2>&1 || ls /usr/sbin/slurmctld >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge; }

# The default search: task=kws board=stm32f746; pass more overrides with ARGS="budget.ram_kb=64 ..."
run: setup
	$(VENV)/bin/autotiny search $(ARGS)

# The MLflow UI on 127.0.0.1, opened on the trials; pass overrides with ARGS="port=5001 tracking.uri=..."
ui: $(VENV)/.stamp
	$(VENV)/bin/autotiny ui $(ARGS)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/trials_per_hour.py

clean:
	rm -rf .cache outputs studies mlruns
