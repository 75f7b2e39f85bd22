"""`autotiny ui [port=5000] [key=value ...]`: the MLflow UI on 127.0.0.1 for the project's tracking store,
opened on the trials: runs table, flat, best validation accuracy first, key figures as columns."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from autotiny.errors import ConfigError

HOST = "127.0.0.1"
DEFAULT_PORT = 5000
START_TIMEOUT_S = 180.0  # MLflow's server needs 7-30 s to answer on a busy machine


def parse_port(args: list[str]) -> tuple[int, list[str]]:
    """Take `port=N` out of the arguments; the rest are Hydra overrides."""
    ports = [a.split("=", 1)[1] for a in args if a.startswith("port=")]
    rest = [a for a in args if not a.startswith("port=")]
    if len(ports) > 1:
        raise ConfigError("ui: give port= once")
    if not ports:
        return DEFAULT_PORT, rest
    try:
        port = int(ports[0])
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ConfigError(f"ui: port={ports[0]}: must be a number from 1 to 65535")
    return port, rest


def store_uri(uri: str) -> str:
    """The tracking URI as Tracker writes to it (relative sqlite paths made absolute), creating nothing."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


def local_store(uri: str) -> Path | None:
    """The file or folder a local store lives in (None for a remote or database server store)."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri).resolve()
    return None


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        try:
            s.bind((HOST, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(f"ui: port {port} on {HOST} is in use; pick another with port=N") from None
            raise ConfigError(f"ui: cannot listen on {HOST}:{port} ({e.strerror}); pick another with port=N") \
                from None


def find_experiment(uri: str, name: str):
    """The study's experiment in the store, given the kind and the trials view if it lacks them."""
    path = local_store(uri)
    if path is not None and not path.exists():
        raise ConfigError(f"ui: no study has been logged to {uri} yet (no {path}); run autotiny search first, "
                          f"or point tracking.uri=... at the store it printed")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    from autotiny.tracking import mark_experiment

    client = MlflowClient(tracking_uri=uri)
    try:
        exp = client.get_experiment_by_name(name)
    except Exception as e:  # not an MLflow store, a server that does not answer
        raise ConfigError(f"ui: cannot read the tracking store {uri}: {str(e).strip().splitlines()[0]}") from None
    if exp is None:
        others = [e.name for e in client.search_experiments() if e.name != "Default"]
        where = f" (it has: {', '.join(others)}; choose with tracking.experiment=NAME)" if others else ""
        raise ConfigError(f"ui: no study has been logged to experiment '{name}' in {uri} yet{where}")
    try:
        mark_experiment(client, exp)
    except Exception:  # a read-only store still opens; the link then only lacks the saved view
        pass
    return exp


def runs_url(port: int, experiment_id: str) -> str:
    from autotiny.tracking import TRIALS_VIEW

    return (f"http://{HOST}:{port}/#/experiments/{experiment_id}/runs"
            f"?viewStateShareKey={TRIALS_VIEW}&workflowType=machine_learning")


def server_command(uri: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port),
            "--backend-store-uri", uri, "--workers", "1",
            "--uvicorn-opts", "--no-access-log"]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _stop(child: subprocess.Popen) -> None:
    """The server and its uvicorn workers: they run in their own process group."""
    if child.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _raise_interrupt(signum, frame):  # SIGTERM/SIGHUP: stop the server like Ctrl-C does
    raise KeyboardInterrupt


def main(args: list[str]) -> int:
    from autotiny.config import compose

    port, overrides = parse_port(args)
    cfg = compose(overrides)
    uri = store_uri(cfg.tracking.uri)
    check_port_free(port)
    exp = find_experiment(uri, cfg.tracking.experiment)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_ALLOW_FILE_STORE": "true"}
    print(f"MLflow UI for {uri} on {HOST}:{port} (starting, this takes a few seconds)", flush=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored (`&`)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    child = subprocess.Popen(server_command(uri, port), env=env, stdin=subprocess.DEVNULL,
                             start_new_session=True)  # Ctrl-C reaches us; we stop it
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            if child.poll() is not None:
                raise ConfigError(f"ui: the MLflow server exited with code {child.returncode} before answering "
                                  f"on {HOST}:{port}; its messages are above")
            if time.monotonic() > deadline:
                raise ConfigError(f"ui: the MLflow server did not answer on {HOST}:{port} within "
                                  f"{START_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
        print(f"open {runs_url(port, exp.experiment_id)}", flush=True)
        print(f"  experiment '{exp.name}': trials sorted by val_accuracy with the key figures as columns "
              f"(view 'autotiny trials'); Ctrl-C stops the server", flush=True)
        code = child.wait()
        raise ConfigError(f"ui: the MLflow server stopped with code {code}")
    except KeyboardInterrupt:
        print("MLflow UI stopped", file=sys.stderr)
        return 0
    finally:
        _stop(child)
