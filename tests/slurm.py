"""A throw-away one-node SLURM cluster for tests: Debian's slurm-wlm (munged, slurmctld, slurmd) in a
temporary folder, every daemon on 127.0.0.1 only, stopped by PID.

The configuration is the one-node setup of ../shared/NOTES.md §5: `SlurmctldHost=NODE(127.0.0.1)`,
`NodeAddr=127.0.0.1`, `CommunicationParameters=NoCtldInAddrAny,NoInAddrAny` (bind the node's own
address, which resolves to 127.0.0.1, not every address), free ports, no accounting database. munged
gets its own key and socket in the folder, so nothing of the host's munge or slurm set-up is used or
changed. Commands (sbatch, squeue, scancel) find this cluster through `env()`: SLURM_CONF.

Without accounting `sacct` answers with an error; submitit then logs "Bypassing sacct error" and
tells a job finished by its result file, which is enough for jobs that end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")


def missing() -> str | None:
    """Why a one-node cluster cannot start here, or None."""
    absent = [p for p in (*DAEMONS, "sbatch", "squeue", "sinfo") if shutil.which(p) is None
              and not Path("/usr/sbin", p).exists()]
    if absent:
        return (f"SLURM not installed ({', '.join(absent)} not found; make setup installs Debian's slurm-wlm and "
                f"munge with apt-get install --no-install-recommends)")
    if os.geteuid() != 0:
        return "a one-node SLURM needs root here (slurmd starts jobs as their users; munged and slurmd run as root)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _daemon(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class Cluster:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="autotiny-slurm-"))
        os.chmod(self.dir, 0o755)  # munged refuses a socket folder others can write to
        self.node = socket.gethostname()
        self.pids: dict[str, int] = {}

    @property
    def conf(self) -> Path:
        return self.dir / "slurm.conf"

    def env(self) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def _write_conf(self) -> None:
        d = self.dir
        for sub in ("state", "spool"):
            (d / sub).mkdir()
        cpus = os.cpu_count() or 1
        self.conf.write_text(f"""\
ClusterName=autotiny
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d / 'munge.socket'}
CredType=cred/munge
StateSaveLocation={d / 'state'}
SlurmdSpoolDir={d / 'spool'}
SlurmctldPidFile={d / 'slurmctld.pid'}
SlurmdPidFile={d / 'slurmd.pid'}
SlurmctldLogFile={d / 'slurmctld.log'}
SlurmdLogFile={d / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
""")

    def _start(self, name: str, *args: str, pid_file: Path) -> None:
        r = subprocess.run([_daemon(name), *args], env=self.env(), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"{name} failed to start: {(r.stderr or r.stdout).strip()[-1500:]}")
        for _ in range(100):
            if pid_file.exists() and pid_file.read_text().strip():
                self.pids[name] = int(pid_file.read_text().split()[0])
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} wrote no pid file {pid_file}")

    def start(self) -> Cluster:
        d = self.dir
        self._write_conf()
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        self._start("munged", f"--socket={d / 'munge.socket'}", f"--key-file={key}", f"--pid-file={d / 'munged.pid'}",
                    f"--log-file={d / 'munged.log'}", f"--seed-file={d / 'munged.seed'}", "--force",
                    pid_file=d / "munged.pid")
        self._start("slurmctld", "-i", pid_file=d / "slurmctld.pid")  # -i: no state from an earlier run
        self._start("slurmd", "-N", self.node, pid_file=d / "slurmd.pid")
        deadline = time.monotonic() + 60
        while "idle" not in self.sinfo():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node never became idle: {self.sinfo()}\n{self.log_tail()}")
            time.sleep(0.5)
        return self

    def processes(self) -> list[int]:
        """The daemons and every job step's slurmstepd (slurmd detaches those; only this cluster runs here)."""
        steps = []
        for comm in Path("/proc").glob("[0-9]*/comm"):
            try:
                if comm.read_text().strip() == "slurmstepd":
                    steps.append(int(comm.parent.name))
            except OSError:
                pass
        return [*self.pids.values(), *steps]

    def sinfo(self) -> str:
        r = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env(), capture_output=True, text=True, timeout=30)
        return r.stdout.strip() or r.stderr.strip()

    def log_tail(self) -> str:
        return "\n".join(f"--- {f.name}\n" + f.read_text()[-1500:] for f in sorted(self.dir.glob("*.log")))

    @property
    def version(self) -> str:
        r = subprocess.run([_daemon("slurmd"), "-V"], capture_output=True, text=True)
        return r.stdout.strip()

    def stop(self) -> None:
        """SIGTERM each daemon (the node first), SIGKILL what is left, then the folder goes."""
        subprocess.run(["scancel", "--quiet", "-p", "debug"], env=self.env(), capture_output=True,
                       timeout=30)
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
