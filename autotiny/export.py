"""`autotiny export study=<name> trial=<n> | run_id=<mlflow run>`: a trial's model as a firmware project.

The folder holds what a user builds and flashes: the firmware sources for the study's board (the
runtime, the board's kernel sets, startup code, linker script and the memory.ld autotiny.firmware
writes from the board record), a Makefile with the flags autotiny.firmware builds with, the model as
.tflite, as a bare blob and as a slot image (slot header + blob, autotiny.slots), `model_spec.h` (the
input/output spec, the signature the firmware accepts, the slot layout), `export.json` (what a later
`update_from=` reads) and a README with the record's figures and their sources.  Where the candidate's
front-end runs on the device (autotiny.frontends.device DEVICE_FRONTENDS), the project also holds its C
file, fe.h, the generated fe_tables.h, the CMSIS-DSP files it needs (with Arm's Apache-2.0 licence) and
firmware/frontends/app_main.c: raw input -> at_fe_run -> the model's input tensor -> the network, the
pipeline the record's figures measure; otherwise the firmware takes the model's input tensor.

`update_from=<earlier export>` writes only the new model's slot image and says whether the firmware
that export deployed takes it: same signature, a runtime new enough, a slot large enough, a newer version.

Finds the study as `autotiny report` does (report.find_study); knows nothing of how figures are measured:
every figure is read off the trial record.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np

from autotiny import firmware, slots
from autotiny.errors import AutotinyError, ConfigError
from autotiny.trial import TrialRecord

OPTIONS = ("study", "trial", "run_id", "out", "overwrite", "update_from", "version")
MANIFEST = "export.json"
FIRST_VERSION = (1, 0, 0)
FIGURES = {"flash_bytes": "flash", "ram_bytes": "RAM reserved", "ram_used_bytes": "RAM used",
           "latency_ms": "latency", "energy_uj": "energy per inference", "macs": "MACs",
           # where the front-end runs on the device, the figures above include it; these say how much
           "frontend_flash_bytes": "of which front-end flash", "frontend_ram_bytes": "of which front-end RAM",
           "frontend_latency_ms": "of which front-end latency", "frontend_energy_uj": "of which front-end energy"}


# ---- which trial ----------------------------------------------------------------------------------

def pick_trial(view, trial: str | None, run_id: str | None) -> TrialRecord:
    """The record a trial= or run_id= names; ConfigError (one line) when unknown or not exportable."""
    if trial is not None:
        if not trial.isdigit():
            raise ConfigError(f"export: trial={trial}: give a trial number (0, 1, ...)")
        rec = next((r for r in view.records if r.number == int(trial)), None)
        if rec is None:
            raise ConfigError(f"export: unknown trial={trial} in study {view.name}; its trials: "
                              f"{_span([r.number for r in view.records])}")
    else:
        rec = next((r for r in view.records if r.mlflow_run_id == run_id), None)
        if rec is None:
            raise ConfigError(f"export: unknown run_id={run_id}: no trial of study {view.name} has that MLflow run")
    if rec.reused_from is not None:
        raise ConfigError(f"export: trial {rec.number} reused trial {rec.reused_from}'s result; export "
                          f"trial={rec.reused_from}")
    if rec.state == "failed":
        raise ConfigError(f"export: trial {rec.number} failed ({rec.stage or 'unknown stage'}: {rec.reason}); "
                          f"nothing to export")
    if not rec.trained or rec.state != "complete":
        why = f" ({rec.reason})" if rec.reason else ""
        raise ConfigError(f"export: trial {rec.number} was never trained: state {rec.state}{why}; "
                          f"export a trained trial")
    tflite = Path(rec.artifacts.get("model.tflite", ""))
    if not rec.artifacts.get("model.tflite") or not tflite.is_file():
        raise ConfigError(f"export: trial {rec.number}'s model.tflite is missing ({tflite or 'not recorded'}); "
                          f"rebuild it: autotiny rebuild record=<its trial.json>")
    return rec


def _span(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    return f"{min(numbers)}-{max(numbers)}" if len(numbers) > 2 else ", ".join(map(str, numbers))


# ---- the folder ---------------------------------------------------------------------------------------

def firmware_files(board) -> list[tuple[Path, str]]:
    """(source, path in the export) for every file the board's firmware is built from."""
    from autotiny.targets import target

    t = target(board.core)
    root = firmware.FIRMWARE
    dirs = [root / "runtime", *(root / "kernels" / s for s in firmware.kernel_sets(board))]
    headers = [h for d in dirs for h in sorted(d.glob("*.h"))]
    files = [*firmware._sources(board), *headers, t.linker_script]
    return [(f, "firmware/" + str(f.relative_to(root))) for f in files]


def makefile(board, sources: list[str], signature: int, int16: bool = False, dsp: list[str] = (),
             frontend: str | None = None, sparse: bool = False) -> str:
    """`frontend`: the device front-end's type when the project runs it (app_main.c is the entry, main.c's
    main becomes at_network_main); `dsp`: the CMSIS-DSP files, built with device.DSP_CFLAGS (Arm's code:
    not our -Werror), as device.build builds them."""
    from autotiny.frontends.device import DSP_CFLAGS
    from autotiny.targets import target

    t = target(board.core)
    # int16: the 16x8 op rows; sparse: the sparse-filter decoder
    cflags = " ".join([*firmware.board_flags(board, int16, sparse), *firmware.CFLAGS])
    ldflags = " ".join([*t.cpu_flags(board.fpu), *firmware.LDFLAGS])
    script = "firmware/" + str(t.linker_script.relative_to(firmware.FIRMWARE))
    srcs = " \\\n          ".join(sources)
    inc = "-Ifirmware -Ifirmware/runtime -I."
    fe_rules = ""
    if frontend:
        inc += " -Ifirmware/frontends -Ifirmware/cmsis-dsp/Include -Ifirmware/cmsis-dsp/PrivateInclude"
        dsp_flags = " ".join([*firmware.board_flags(board), *DSP_CFLAGS])
        fe_rules = f"""
# the {frontend} front-end runs first (firmware/frontends/app_main.c); main.c's main runs the network
build/main.o: CFLAGS += -Dmain=at_network_main

build/cmsis-dsp/%.o: firmware/cmsis-dsp/%.c
\t@mkdir -p $(dir $@)
\t$(CC) {dsp_flags} {inc} -c $< -o $@
"""
    dsp_srcs = " \\\n          ".join(dsp)
    return f"""# {board.name}: the autotiny firmware and its runtime, as autotiny.firmware builds it{
        f", with the {frontend} front-end" if frontend else ""}.
# make            -> build/firmware.elf (flash it; then write model/slot0.bin at the slot 0 address, README)
CC      = {t.compiler}
CFLAGS  = {cflags} \\
          -DAT_EXPECTED_SIGNATURE=0x{signature:08X}u {inc}
LDFLAGS = {ldflags} -Lfirmware/boards -T{script}
SRCS    = {srcs}
DSP_SRCS = {dsp_srcs}
OBJS    = $(patsubst firmware/%.c,build/%.o,$(SRCS) $(DSP_SRCS))
HDRS    = $(wildcard firmware/runtime/*.h firmware/kernels/*/*.h firmware/frontends/*.h) model_spec.h

all: build/firmware.elf

build/firmware.elf: $(OBJS) firmware/boards/memory.ld {script}
\t$(CC) $(LDFLAGS) -Wl,-Map=build/firmware.map -o $@ $(OBJS) -lm
{fe_rules}
build/%.o: firmware/%.c $(HDRS)
\t@mkdir -p $(dir $@)
\t$(CC) $(CFLAGS) -c $< -o $@

clean:
\trm -rf build

.PHONY: all clean
"""


def device_frontend_of(view, rec: TrialRecord, blob, tflite: bytes) -> dict:
    """The candidate's device front-end as the export runs it: {"type", "params", "raw": {dtype, shape,
    bytes}, "hint", "sources"}, or {"why": a line} when the firmware takes the model's input instead."""
    from autotiny.frontends import device
    from autotiny.space import CandidateSpec
    from autotiny.tasks import get_task
    from autotiny.tflite_model import read_tflite

    fe = (rec.candidate or {}).get("frontend")
    if not fe:
        return {"why": "the record does not say how the input is made"}
    if fe["type"] not in device.DEVICE_FRONTENDS:
        return {"why": f"the `{fe['type']}` front-end does not run on the device in autotiny yet (device "
                       f"front-ends: {', '.join(device.DEVICE_FRONTENDS)})"}
    params = CandidateSpec.from_dict(rec.candidate).frontend_params
    entry = device.REGISTRY[fe["type"]]
    try:  # what the model (an IMU window's axes) and the task (a picture's source size) say of the raw input
        raw_shape = get_task(view.config.task).raw_shape(view.config)
        hint = entry.hint_from(read_tflite(tflite), raw_shape)
    except AutotinyError as e:
        return {"why": str(e)}
    rows, cols = entry.output_shape(params, hint)
    if blob.input_dtype != "int8" or rows * cols != math.prod(blob.input_shape):
        return {"why": f"the device `{fe['type']}` front-end writes int8 {rows}x{cols}, the model's input is "
                       f"{blob.input_dtype} {list(blob.input_shape)}"}
    dtype, shape = entry.input_format(params, hint)
    return {"type": fe["type"], "params": fe.get("params", {}), "hint": hint,
            "raw": {"dtype": np.dtype(dtype).name, "shape": list(shape),
                    "bytes": int(np.dtype(dtype).itemsize * math.prod(shape))},
            "sources": device.export_sources(fe["type"], params, hint)}


def frontend_files(out: Path, fe: dict) -> list[str]:
    """Write the front-end's files into the project; the CMSIS-DSP sources it compiles (project paths)."""
    from autotiny.frontends import cmsis_mfcc

    src = fe["sources"]
    dest = out / "firmware" / "frontends"
    dest.mkdir(parents=True, exist_ok=True)
    for f in (*src["sources"], *src["headers"], firmware.FIRMWARE / "frontends" / "app_main.c"):
        shutil.copyfile(f, dest / f.name)
    (dest / "fe_tables.h").write_text(src["tables"])
    if src["dsp_root"] is None:
        return []
    dsp = out / "firmware" / "cmsis-dsp"
    for d in ("Include", "PrivateInclude"):
        shutil.copytree(src["dsp_root"] / d, dsp / d)
    shutil.copyfile(src["dsp_root"] / "LICENSE", dsp / "LICENSE")
    for rel in src["dsp_sources"]:
        (dsp / "Source" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src["dsp_root"] / "Source" / rel, dsp / "Source" / rel)
    (dsp / "NOTICE").write_text(
        f"CMSIS-DSP {cmsis_mfcc.CMSIS_DSP_VERSION}, Copyright (c) Arm Limited, licensed under the Apache License,\n"
        f"Version 2.0 ({cmsis_mfcc.CMSIS_DSP_LICENSE}, see LICENSE in this folder).  Unmodified files from the PyPI\n"
        f"sdist {cmsis_mfcc.CMSIS_DSP_URL}\n(sha256 {cmsis_mfcc.CMSIS_DSP_SHA256}): its Include/ and\n"
        "PrivateInclude/ and only the Source/ files the front-end calls.\n")
    return [f"firmware/cmsis-dsp/Source/{rel}" for rel in src["dsp_sources"]]


def _io_spec(blob) -> dict:
    h = blob.header
    return {side: {"dtype": getattr(h, f"{side}_dtype").lower(), "shape": list(getattr(h, f"{side}_shape")),
                   "scale": getattr(h, f"{side}_scale"), "zero_point": getattr(h, f"{side}_zero_point"),
                   "bytes": int(getattr(blob, f"{side}_dtype").itemsize
                                * math.prod(getattr(h, f"{side}_shape")))}
            for side in ("input", "output")}


def model_spec_h(manifest: dict, labels: list[str] | None) -> str:
    io, lay = manifest["io"], manifest["layout"]
    v = manifest["version"].split(".")
    lines = ["/* The model this firmware was exported with (autotiny export); see README.md. */",
             "#ifndef AT_MODEL_SPEC_H", "#define AT_MODEL_SPEC_H", "",
             f"/* study {manifest['study']}, trial {manifest['trial']}, board {manifest['board']} */",
             f"#define AT_MODEL_VERSION_MAJOR {v[0]}", f"#define AT_MODEL_VERSION_MINOR {v[1]}",
             f"#define AT_MODEL_VERSION_PATCH {v[2]}",
             "/* input/output types and shapes (slots.h at_signature); the Makefile builds the firmware to accept",
             " * only models with this signature */",
             f"#define AT_MODEL_SIGNATURE 0x{manifest['signature']:08X}u"]
    for side in ("input", "output"):
        s, up = io[side], side.upper()
        lines += [f"#define AT_MODEL_{up}_DTYPE AT_{s['dtype'].upper()}",
                  f"#define AT_MODEL_{up}_RANK {len(s['shape'])}",
                  f"#define AT_MODEL_{up}_DIMS {{{', '.join(map(str, s['shape']))}}}",
                  f"#define AT_MODEL_{up}_BYTES {s['bytes']}u",
                  f"/* this model's quantisation; an update may change it: read m.hdr->{side} at run time */",
                  f"#define AT_MODEL_{up}_SCALE {s['scale']!r}f",
                  f"#define AT_MODEL_{up}_ZERO_POINT {s['zero_point']}"]
    if labels:
        lines.append("#define AT_MODEL_LABELS {" + ", ".join(json.dumps(c) for c in labels) + "}")
    lines += [f"/* model slots: {lay['slots']} × {lay['slot_size']} B from 0x{lay['blob_origin']:08X} */",
              f"#define AT_MODEL_SLOTS {lay['slots']}u", f"#define AT_MODEL_SLOT_SIZE {lay['slot_size']}u",
              f"#define AT_MODEL_SLOT_ADDRESS(i) (0x{lay['blob_origin']:08X}u + (i) * AT_MODEL_SLOT_SIZE)",
              "", "#endif", ""]
    return "\n".join(lines)


def manifest_of(view, rec: TrialRecord, board, blob, version: tuple[int, int, int],
                fe: dict | None = None) -> dict:
    lay = firmware.layout(board)
    front = ({**{k: fe[k] for k in ("type", "params", "raw")}, "source": fe["sources"]["sources"][0].name}
             if fe and "type" in fe
             else {"why_not": fe["why"]} if fe else None)
    return {"frontend": front, "format": 1, "study": view.name, "trial": rec.number, "mlflow_run_id": rec.mlflow_run_id,
            "task": view.task, "board": board.name, "version": slots.version_text(version),
            "runtime_version": slots.runtime_text(slots.runtime_version()),
            "signature": slots.signature(blob.data), "blob_bytes": blob.size, "io": _io_spec(blob),
            "layout": {"slots": lay.slots, "slot_size": lay.slot_size, "blob_origin": lay.blob_origin,
                       "slot_header": slots.SLOT_HEADER_SIZE},
            "figures": {k: {"value": f.value, "unit": f.unit, "source": f.source, "assumption": f.assumption}
                        for k, f in rec.figures.items()}}


def _figure_lines(manifest: dict) -> list[str]:
    out = []
    for key, label in FIGURES.items():
        f = manifest["figures"].get(key)
        if f:
            note = f" ({f['assumption']})" if f.get("assumption") else ""
            out.append(f"| {label} | {f['value']:,.6g} {f['unit']} | {f['source']}{note} |")
    return out


def readme(manifest: dict, rec: TrialRecord, board, labels: list[str] | None) -> str:
    io, lay = manifest["io"], manifest["layout"]
    slot_bytes = lay["slot_header"] + manifest["blob_bytes"]
    fe, dev = (rec.candidate or {}).get("frontend") or {}, manifest.get("frontend") or {}
    if "type" in dev:
        raw = dev["raw"]
        front = (f"The firmware computes that input itself: `firmware/frontends/app_main.c` runs the "
                 f"`{dev['type']}` front-end with the parameters `{json.dumps(dev['params'])}` on the raw input, "
                 f"{raw['dtype']} {raw['shape']} ({raw['bytes']:,} B) at the arena start, then the network: "
                 "the pipeline the figures measure (section below).")
    elif fe:
        front = (f"The input is the `{fe.get('type')}` front-end's output with the parameters "
                 f"`{json.dumps(fe.get('params', {}))}` (autotiny/frontends/), quantised with the input scale and "
                 f"zero point. This export has no front-end on the device ({dev.get('why_not', 'none')}): "
                 "compute the features as autotiny.frontends does.")
    else:
        front = "The record does not say how the input is made."
    dsp = ""
    if "type" in dev:
        from autotiny.frontends.device import REGISTRY

        dsp = (", and the CMSIS-DSP files it uses (`firmware/cmsis-dsp/`: Arm, Apache-2.0, see its LICENSE and "
               "NOTICE)") if REGISTRY[dev["type"]].cmsis_headers else ""
    fe_section = "" if "type" not in dev else f"""
## The front-end on the device

`make` also builds the `{dev['type']}` front-end: `firmware/frontends/{dev['source']}`
(`at_fe_run`, `fe.h`), its tables `fe_tables.h` generated for this candidate by autotiny{dsp}. The entry point is
`firmware/frontends/app_main.c`: per inference, write the raw input ({dev['raw']['dtype']} {dev['raw']['shape']},
{dev['raw']['bytes']:,} B) at the arena start and call it (at reset here); it quantises the features with the
selected model's input scale and zero point into the input tensor at arena offset 0 and runs `firmware/main.c`'s
network code (built as `at_network_main`), which reports as above. In your application call
`at_fe_run(raw, features, scale, zero_point, NULL)` before the `memcpy` above.
"""
    rows = "\n".join(_figure_lines(manifest)) or "| (the record holds no figures) | | |"
    return f"""# {manifest['study']} trial {manifest['trial']} on {board.name}

Exported by `autotiny export` from the trial record (MLflow run `{manifest['mlflow_run_id'] or 'none'}`).
Model version {manifest['version']}, runtime {manifest['runtime_version']}, signature
0x{manifest['signature']:08X} (input/output types and shapes).

## Build and flash

```sh
make                         # arm-none-eabi-gcc (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi)
```
builds `build/firmware.elf` with the flags autotiny measured the model with. Flash it, then write
`model/slot0.bin` (slot header + model blob, {slot_bytes:,} B) at slot 0, 0x{lay['blob_origin']:08X}.
The flash after the firmware is cut into {lay['slots']} model slots of {lay['slot_size']:,} B; at reset
the firmware runs the valid slot with the newest version. With no slot header anywhere it runs
`model/model.blob` written bare at 0x{lay['blob_origin']:08X} (what autotiny's measurements do).

## Calling it from your application

`firmware/main.c` is the whole example: it runs one inference on the input found at the arena start
and copies the output to `at_output`. In your application keep its first half and call:

```c
#include "runtime/at_runtime.h"
#include "runtime/slots.h"
#include "model_spec.h"
extern const uint8_t __blob_start[], __slot_size[], __slot_count[];
extern uint8_t __arena_start[], __arena_end[];

at_model m;
uint32_t why[AT_MAX_SLOTS], slot;   /* per slot: runs, empty, bad CRC, ... (slots.h) */
uint32_t arena = (uint32_t)(__arena_end - __arena_start);
int st = at_slots_select(&m, __blob_start, (uint32_t)(uintptr_t)__slot_size, (uint32_t)(uintptr_t)__slot_count,
                         AT_MODEL_SIGNATURE, arena, AT_MODEL_OUTPUT_BYTES, why, &slot);
/* once per inference: */
memcpy(__arena_start, features, AT_MODEL_INPUT_BYTES);   /* the input sits at arena offset 0 */
st = at_model_invoke(&m, __arena_start, arena, 0);
const int8_t *scores = at_tensor_ptr(&m, m.hdr->output.tensor);
```

Input: {io['input']['dtype']} {io['input']['shape']} ({io['input']['bytes']} B), scale {io['input']['scale']:.6g},
zero point {io['input']['zero_point']}. Output: {io['output']['dtype']} {io['output']['shape']}
({io['output']['bytes']} B), scale {io['output']['scale']:.6g}, zero point {io['output']['zero_point']}
{f"(classes, in order: {', '.join(labels)})" if labels else ""}. {front}
An update may bring other scales: read them from `m.hdr->input` / `m.hdr->output` rather than
hard-coding them.
{fe_section}
## RAM, flash and latency (from the trial record)

| figure | value | source |
|---|---|---|
{rows}

`emulated`: this firmware and blob run on the emulated {board.name} (autotiny's measurement);
`file`: read off the .tflite. Flash counts every model slot: firmware + {lay['slots']} × (slot header
{lay['slot_header']} B + blob {manifest['blob_bytes']:,} B) for records made since model slots exist.

## Updating the model over the air

`autotiny export study=... trial=<new> update_from=<this folder>` writes the new model's slot image
and says whether this firmware takes it. Write it into the slot that is not running (the one whose
version is lower, or an empty one), then reset: the firmware switches only when the slot's CRC-32,
runtime version and signature check out and its version is the newest, and otherwise keeps running
the old model; mailbox words 16-27 (firmware/main.c) say which slot runs and why each other slot does not.
"""


def write_export(out: Path, view, rec: TrialRecord, board, blob, tflite: bytes, version, labels) -> dict:
    fe = device_frontend_of(view, rec, blob, tflite)
    manifest = manifest_of(view, rec, board, blob, version, fe)
    files = firmware_files(board)
    for src, rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / rel)
    (out / "firmware" / "boards" / "memory.ld").write_text(firmware.memory_ld(board))
    sources = [rel for src, rel in files if src.suffix == ".c"]
    dsp, kind = [], None
    if "type" in fe:
        kind, dsp = fe["type"], frontend_files(out, fe)
        sources += ["firmware/frontends/app_main.c", *(f"firmware/frontends/{f.name}" for f in fe["sources"]["sources"])]
    (out / "Makefile").write_text(makefile(board, sources, manifest["signature"], firmware.needs_int16(blob),
                                           dsp, kind, firmware.needs_sparse(blob)))
    (out / "model").mkdir()
    (out / "model" / "model.tflite").write_bytes(tflite)
    (out / "model" / "model.blob").write_bytes(blob.data)
    (out / "model" / "slot0.bin").write_bytes(slots.slot_image(blob.data, version))
    (out / "model_spec.h").write_text(model_spec_h(manifest, labels))
    (out / "README.md").write_text(readme(manifest, rec, board, labels))
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


# ---- an update for an earlier export ----------------------------------------------------------------

def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ConfigError(f"export: update_from={folder} is not an export (no readable {MANIFEST}); give the "
                          f"folder an earlier autotiny export wrote") from None
    if not isinstance(d, dict) or d.get("format") != 1 or not {"signature", "layout", "version"} <= set(d):
        raise ConfigError(f"export: update_from={folder}: {MANIFEST} is not an autotiny export manifest")
    return d


def update_checks(deployed: dict, image: bytes) -> list[tuple[str, bool, str]]:
    """(check, passed, detail) for each thing the deployed firmware checks before it switches."""
    hdr, _ = slots.parse(image)
    lay = deployed["layout"]
    old_v = slots.parse_version(deployed["version"], "deployed version")
    return [
        ("signature", hdr.signature == deployed["signature"],
         f"0x{hdr.signature:08X} vs the application's 0x{deployed['signature']:08X} (input/output types and shapes)"),
        ("runtime", hdr.min_runtime <= _runtime_int(deployed["runtime_version"]),
         f"needs {slots.runtime_text(hdr.min_runtime)}, the firmware runs {deployed['runtime_version']}"),
        ("slot size", len(image) <= lay["slot_size"],
         f"{len(image):,} B (header + blob) in a {lay['slot_size']:,} B slot"),
        ("version", hdr.version > old_v,
         f"{slots.version_text(hdr.version)} after the deployed {deployed['version']} (the newest valid slot runs)"),
    ]


def _runtime_int(text: str) -> int:
    a, b, c = (int(p) for p in text.split("."))
    return a << 16 | b << 8 | c


def write_update(out: Path, deployed: dict, view, rec: TrialRecord, board, blob, tflite: bytes,
                 version) -> tuple[bool, list[tuple[str, bool, str]]]:
    image = slots.slot_image(blob.data, version)
    (out / "model").mkdir(parents=True)
    (out / "model" / "update.bin").write_bytes(image)
    (out / "model" / "model.tflite").write_bytes(tflite)
    manifest = manifest_of(view, rec, board, blob, version)
    checks = update_checks(deployed, image)
    manifest["update_from"] = {"study": deployed.get("study"), "trial": deployed.get("trial"),
                               "version": deployed["version"],
                               "checks": {name: {"ok": ok, "detail": d} for name, ok, d in checks}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return all(ok for _, ok, _ in checks), checks


# ---- command ----------------------------------------------------------------------------------------

def main(args: list[str]) -> int:
    from autotiny.config import compose, split_options
    from autotiny.report import find_study

    opts, rest = split_options(args, OPTIONS, "export")
    if not opts.get("study"):
        raise ConfigError("export needs study=<name> and trial=<n> or run_id=<mlflow run id>")
    if "trial" in opts and "run_id" in opts:
        raise ConfigError("export: give trial= or run_id=, not both")
    if not opts.get("trial") and not opts.get("run_id"):
        raise ConfigError("export needs trial=<n> or run_id=<mlflow run id> (which of the study's models)")
    overwrite = opts.get("overwrite", "false").lower()
    if overwrite not in ("true", "false"):
        raise ConfigError(f"export: overwrite={opts['overwrite']}: must be true or false")
    deployed = read_manifest(Path(opts["update_from"])) if "update_from" in opts else None
    name = opts["study"]
    cfg = compose([*rest, f"search.study_name={name}"])
    view = find_study(name, rest, cfg, command="export")
    rec = pick_trial(view, opts.get("trial"), opts.get("run_id"))
    board, labels = view.config.board, list(view.config.task.classes)
    if deployed is not None and deployed["board"] != board.name:
        raise ConfigError(f"export: update_from={opts['update_from']} was exported for {deployed['board']}, "
                          f"this study is on {board.name}")
    kind = "update" if deployed else "export"
    out = Path(opts.get("out") or Path(cfg.search.output_dir) / f"{kind}-trial{rec.number:04d}")
    if out.exists() and overwrite != "true":
        raise ConfigError(f"export: out={out} already exists; pass overwrite=true to replace it, or another out=")
    if deployed is not None:
        old = slots.parse_version(deployed["version"], "deployed version")
        version = slots.parse_version(opts["version"]) if "version" in opts else (old[0], old[1] + 1, 0)
    else:
        version = slots.parse_version(opts["version"]) if "version" in opts else FIRST_VERSION
    tflite = Path(rec.artifacts["model.tflite"]).read_bytes()
    from autotiny.measure.protocol import device_blob
    from autotiny.space import CandidateSpec

    pruned = CandidateSpec.from_dict(rec.candidate).sparsity > 0  # as it was measured
    blob = device_blob(tflite, board, sparse=pruned, source=rec.artifacts["model.tflite"])
    firmware.check_fits(blob, board)  # ModelError: exit 2, one line with the figures
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if deployed is None:
        m = write_export(out, view, rec, board, blob, tflite, version, labels)
        print(f"export: {out.resolve()} (trial {rec.number}, version {m['version']}, {board.name}: "
              f"{m['layout']['slots']} model slots of {m['layout']['slot_size']:,} B; build it: make -C {out})")
        return 0
    ok, checks = write_update(out, deployed, view, rec, board, blob, tflite, version)
    print(f"update: {out.resolve() / 'model' / 'update.bin'} (trial {rec.number}, version "
          f"{slots.version_text(version)}) for the firmware exported in {opts['update_from']}:")
    for check, passed, detail in checks:
        print(f"  {'ok ' if passed else 'NO '} {check}: {detail}")
    print("the deployed firmware takes it: write it to the slot not running and reset" if ok else
          "the deployed firmware would refuse it and keep its model")
    return 0 if ok else 1
