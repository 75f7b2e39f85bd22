"""Checks, once and before the first trial, everything a whole run depends on.

A problem that every trial would hit the same way (a garbled study database, a broken MLflow
store, a folder that cannot be written, a corrupt .wav) must stop the run at once with one line
naming the config key, the path or URL and what to do — not burn the whole trial budget, and not
surface as a raw SQLAlchemy traceback after TensorFlow has loaded.

The data check asks the task (autotiny.tasks) for its dataset and the files it reads, and checks
each file by its suffix (FILE_CHECKERS: .wav gets a header check); it knows no task itself.

Nothing here imports TensorFlow or Optuna, and nothing is overwritten: existing databases are
opened read-only; the only writes are `mkdir -p` of the configured folders and a probe file that
is deleted again.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import tempfile
import wave
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from autotiny.config import RunConfig, TrackingSettings
from autotiny.errors import ConfigError, DataError
from autotiny.tasks import Dataset, Task, get_task

UNCHANGED = "nothing was changed"
SHOWN_BAD_FILES = 5  # listed in the message; the full list goes to a file
BAD_FILES_REPORT = "bad_wav_files.txt"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SAMPLE_RATE = 16000  # what autotiny.data.speech_commands.read_wav accepts (not imported: it pulls numpy)
CONNECT_TIMEOUT_S = 10
# driver module SQLAlchemy could not import → what to pip install
DRIVER_PACKAGES = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg[binary]", "MySQLdb": "mysqlclient",
                   "pymysql": "PyMySQL", "mysql": "mysql-connector-python", "pyodbc": "pyodbc",
                   "pymssql": "pymssql", "oracledb": "oracledb", "cx_Oracle": "cx_Oracle"}
SERVER_DATABASES = ("postgresql", "mysql", "mariadb", "mssql", "oracle")


def check_run(cfg: RunConfig, dataset: Dataset | None = None) -> Dataset:
    """Stores, folders, then every data file; raises ConfigError/DataError (one line) at the first
    problem. Returns the task's dataset (built from cfg.data when not given) so the caller can reuse it."""
    s = cfg.search
    if s.storage:
        fix = "move it away or choose another search.storage"
    else:
        check_writable(s.studies_dir, "search.studies_dir")
        fix = "move it away or choose another search.study_name"
    check_storage(s.storage_url(), fix=fix)
    check_tracking(cfg.tracking)
    output = check_writable(s.output_dir, "search.output_dir")
    check_writable(cfg.data.cache_dir, "data.cache_dir")
    task = get_task(cfg.task)
    if dataset is None:
        dataset = _build_dataset(cfg, report_dir=output, task=task)
    check_dataset(dataset, report_dir=output, task=task)
    return dataset


# ---- folders ----------------------------------------------------------------------------------

def check_writable(path: str | Path, key: str, shown: str | None = None) -> Path:
    """Create the folder (mkdir -p) and write + delete a probe file in it; returns the folder.
    `shown` is the value named in the message when the key holds a URI rather than the path."""
    p = Path(path).expanduser()
    try:
        if p.exists() and not p.is_dir():
            raise NotADirectoryError(20, "it is a file, not a folder")
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".autotiny-probe-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        where = f"{shown}: cannot create or write the folder {path}" if shown else \
            f"{path}: cannot create or write this folder"
        raise ConfigError(_line(f"{key}={where} ({_os_reason(e, p)}); choose a writable folder for {key}")) \
            from None
    return p


def _os_reason(e: OSError, p: Path) -> str:
    reason = e.strerror or str(e)
    if isinstance(e, NotADirectoryError) or e.errno == 20:
        for parent in p.parents:  # name the regular file that sits where a folder should be
            if parent.exists() and not parent.is_dir():
                return f"{parent} is a file, not a folder"
    if e.filename and Path(str(e.filename)) != p:
        reason += f": {e.filename}"
    return reason


# ---- databases ----------------------------------------------------------------------------------

def check_storage(url: str, key: str = "search.storage",
                  fix: str = "move it away or choose another search.storage") -> None:
    """The Optuna storage URL: parses, its driver imports, its server answers; an existing sqlite
    file is a healthy Optuna (or empty) database. Opens nothing for writing."""
    _check_database(url, key, kind="study", marker="studies", fix=fix)


def check_tracking(settings: TrackingSettings) -> None:
    """The MLflow store (when tracking is enabled) and its artifact folder."""
    if not settings.enabled:
        return
    uri, key = settings.uri, "tracking.uri"
    fix = "move it away, set another tracking.uri or tracking.enabled=false"
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme.split("+")[0] in ("sqlite", *SERVER_DATABASES):
        _check_database(uri, key, kind="MLflow tracking", marker="experiments", fix=fix)
    elif scheme in ("http", "https"):
        _check_http(uri, key)
    elif scheme == "file" or len(scheme) <= 1:  # `file:` URI, a plain path (or a Windows drive letter)
        folder = unquote(urlsplit(uri).path) if scheme == "file" else uri
        check_writable(folder, key, shown=uri if scheme == "file" else None)
    # other schemes (databricks, ...) are MLflow's business: nothing to check locally
    check_writable(settings.artifact_dir, "tracking.artifact_dir")


def _check_http(uri: str, key: str) -> None:
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise ConfigError(_line(f"{key}={uri}: not a valid URL ({e}); use e.g. http://127.0.0.1:5000")) from None
    if not host:
        raise ConfigError(f"{key}={uri}: no host in the URL; use e.g. http://127.0.0.1:5000")
    if host not in LOCAL_HOSTS:
        return  # a remote server: not contacted here
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as e:
        raise ConfigError(_line(
            f"{key}={uri}: no MLflow server answers at {host}:{port} ({e.strerror or e}); start one "
            f"(mlflow server --host {host} --port {port}), or set tracking.uri=sqlite:///mlruns/mlflow.db "
            f"or tracking.enabled=false")) from None


def _check_database(url: str, key: str, kind: str, marker: str, fix: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    example = "sqlite:///studies/NAME.db or postgresql://user@host/db"
    try:
        u = make_url(url)
    except (ArgumentError, ValueError) as e:
        raise ConfigError(_line(f"{key}={url}: not a database URL ({e}); use a SQLAlchemy URL such as {example}"))\
            from None
    shown = u.render_as_string(hide_password=True)
    if u.get_backend_name() == "sqlite":
        _check_sqlite(u, shown, key, kind, marker, fix)
    else:
        _check_server(u, shown, key)


def _sqlite_path(u) -> Path | None:
    db = u.database
    if not db or db == ":memory:" or "mode=memory" in db:
        return None
    if str(u.query.get("uri", "")).lower() in ("true", "1") and db.startswith("file:"):
        db = unquote(urlsplit(db).path)
    return Path(db).expanduser()


def _check_sqlite(u, shown: str, key: str, kind: str, marker: str, fix: str) -> None:
    path = _sqlite_path(u)
    if path is None:
        return  # in memory
    if path.is_dir():
        raise ConfigError(_line(f"{key}={shown}: {path} is a folder, not {_a(kind)} database file; {fix}"))
    problem, tables = _inspect_sqlite(path)
    where = "" if path.is_absolute() else f"{path.resolve()} is "  # the URL alone names a relative path
    if problem:
        raise ConfigError(_line(f"{key}={shown}: {where}not {_a(kind)} database ({problem}); {fix} — {UNCHANGED}"))
    if tables and marker not in tables:
        listed = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise ConfigError(_line(f"{key}={shown}: {where}a database, but not {_a(kind)} database (tables: {listed}); "
                                f"{fix} — {UNCHANGED}"))
    check_writable(path.parent, key, shown)  # created later, or needs its journal beside it


def _inspect_sqlite(path: Path) -> tuple[str | None, list[str]]:
    """(problem or None, table names) of an existing sqlite file, opened read-only."""
    if not path.exists() or path.stat().st_size == 0:
        return None, []  # new or empty: the store creates its tables
    try:
        con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as e:
        return f"cannot open it: {e}", []
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = con.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            return f"integrity check failed: {'; '.join(str(r[0]) for r in rows[:2])}", tables
        return None, tables
    except sqlite3.DatabaseError as e:
        msg = str(e)
        if any(w in msg for w in ("locked", "busy", "readonly")):
            return None, []  # in use by a writer or a hot journal to roll back: the store handles that
        return msg, []
    finally:
        con.close()


def _check_server(u, shown: str, key: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    backend = u.get_backend_name()
    connect_args = {}
    if backend in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in u.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        engine = create_engine(u, poolclass=NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        raise ConfigError(_line(f"{key}={shown}: unknown database kind '{u.drivername}'; use a SQLAlchemy URL "
                                f"such as sqlite:///studies/NAME.db or postgresql://user@host/db")) from None
    except ImportError as e:
        module = (getattr(e, "name", None) or "").split(".")[0]
        package = DRIVER_PACKAGES.get(module, module or "the driver")
        quoted = f"'{package}'" if "[" in package else package  # brackets are shell globs
        raise ConfigError(_line(f"{key}={shown}: the {u.drivername} driver is not installed ({e}); "
                                f"pip install {quoted}")) from None
    except (ArgumentError, TypeError, ValueError) as e:
        raise ConfigError(_line(f"{key}={shown}: not a usable database URL ({e})")) from None
    try:
        engine.connect().close()
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise ConfigError(_line(f"{key}={shown}: cannot connect ({reason[0] if reason else type(e).__name__}); "
                                f"start the database server or fix the URL")) from None
    finally:
        engine.dispose()


# ---- data -----------------------------------------------------------------------------------------

def wav_problem(path: Path) -> str | None:
    """Why `path` is not a usable 16-bit PCM mono 16 kHz wav with at least one frame, else None.
    Reads the header and the last frame only."""
    try:
        with wave.open(str(path), "rb") as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if ch != 1 or width != 2 or rate != SAMPLE_RATE:
                return (f"expected 16-bit PCM mono {SAMPLE_RATE} Hz, got {ch} channel(s), {8 * width}-bit, "
                        f"{rate} Hz")
            if n < 1:
                return "no audio frames"
            w.setpos(n - 1)
            if len(w.readframes(1)) < width:
                return f"truncated: the header promises {n} frames"
    except (wave.Error, EOFError) as e:
        if str(e):
            return str(e)
        try:
            return "empty file" if os.path.getsize(path) == 0 else "truncated header"
        except OSError:
            return "truncated header"
    except OSError as e:
        return e.strerror or str(e)
    return None


def readable_problem(path: Path) -> str | None:
    """Why `path` cannot be opened for reading, else None: the check for files of no known format."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        return e.strerror or str(e)
    return None


FILE_CHECKERS = {".wav": wav_problem}  # suffix → why such a file is unusable (None: fine)


def file_problem(path: Path) -> str | None:
    return FILE_CHECKERS.get(Path(path).suffix, readable_problem)(path)


def check_dataset(dataset: Dataset, report_dir: str | Path | None = None, task: Task | None = None) -> int:
    """Every file the dataset will read (as its task lists them; else its own `files()`), each
    checked by its suffix; all bad ones in one DataError. Returns how many files were checked."""
    files = task.data_files(dataset) if task is not None else dataset.files()
    _raise_bad(_scan(files), dataset.root, report_dir)
    return len(files)


def _scan(files) -> list[tuple[Path, str]]:
    return [(f, why) for f in files if (why := file_problem(f))]


def _raise_bad(bad: list[tuple[Path, str]], root: Path, report_dir: str | Path | None) -> None:
    if not bad:
        return
    shown = ", ".join(f"{p} ({why})" for p, why in bad[:SHOWN_BAD_FILES])
    more = ""
    if len(bad) > SHOWN_BAD_FILES:
        more = f" and {len(bad) - SHOWN_BAD_FILES} more"
        report = _write_report(bad, report_dir)
        if report:
            more += f" (all listed in {report})"
    noun = "file" if len(bad) == 1 else "files"
    kinds = {Path(p).suffix.lstrip(".") for p, _ in bad}
    kind = f"{kinds.pop()} " if len(kinds) == 1 and "" not in kinds else ""  # "wav files"
    raise DataError(_line(f"data: {len(bad)} unreadable {kind}{noun}: {shown}{more}; replace or delete "
                          f"{'it' if len(bad) == 1 else 'them'} under {root}, or set data.root=PATH"))


def _write_report(bad: list[tuple[Path, str]], report_dir: str | Path | None) -> Path | None:
    if report_dir is None:
        return None
    try:
        path = Path(report_dir) / BAD_FILES_REPORT
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{p}\t{why}\n" for p, why in bad))
        return path
    except OSError:
        return None


def _build_dataset(cfg: RunConfig, report_dir: Path, task: Task | None = None) -> Dataset:
    """The task's dataset, as autotiny.pipeline.TaskData builds it. Building may read some files
    (Speech Commands reads the noise files' headers); if that fails, every bad file of a known
    format under the data root is listed instead of only the one that stopped the build."""
    task = task or get_task(cfg.task)
    root = task.data_root(cfg)
    try:
        return task.dataset(cfg, root)
    except DataError:
        known = sorted(p for p in Path(root).rglob("*") if p.suffix in FILE_CHECKERS)
        _raise_bad(_scan(known), Path(root).resolve(), report_dir)
        raise


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0].lower() in "aeiou" or noun.startswith("MLflow") else f"a {noun}"


def _line(msg: str) -> str:
    return " ".join(msg.split("\n")).replace("\r", " ")
