"""A real single-node SLURM in a temporary folder, for the tests: munged with a key of its own, slurmctld and
slurmd started directly (no systemd), the node sized as slurmd finds this machine, and every job and process
of it ended on the way out."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from process_tree import command_lines, running

COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "openssl")


def why_not() -> str | None:
    """Why the SLURM test cannot run here (no SLURM to start, or no openssl for its certificates), or None."""
    if not sys.platform.startswith("linux"):
        return "a single-node SLURM runs on Linux"
    absent = [command for command in COMMANDS if shutil.which(command) is None]
    if absent:
        return f"no {', '.join(absent)}: install Debian's slurm-wlm, munge and openssl (.ci/run does, as root)"
    if os.geteuid() != 0:
        return "slurmd and munged started by hand run jobs as root only"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SingleNodeSlurm:
    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}  # also what marks this SLURM's processes
        self.daemons: list[subprocess.Popen] = []

    def start(self):
        munge = self.folder / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
        name = node.split()[0].removeprefix("NodeName=")  # CPUs and RealMemory as slurmd finds them
        for folder in ("state", "spool", "logs"):
            (self.folder / folder).mkdir()
        self.conf.write_text("\n".join([
            "ClusterName=grader-test", f"SlurmctldHost={name}(127.0.0.1)",
            f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
            "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge", "CredType=cred/munge",
            f"AuthInfo=socket={munge / 'munge.socket'}",
            f"StateSaveLocation={self.folder / 'state'}", f"SlurmdSpoolDir={self.folder / 'spool'}",
            f"SlurmctldPidFile={self.folder / 'slurmctld.pid'}", f"SlurmdPidFile={self.folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.folder / 'logs' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.folder / 'logs' / 'slurmd.log'}",
            # pgid, not linuxproc: linuxproc follows a job's processes by their parents, and loses the Dask nanny
            # when a cancel kills the job's shell first and leaves the nanny an orphan.
            "ProctrackType=proctrack/pgid", "TaskPlugin=task/none", "MpiDefault=none", "MailProg=/bin/true",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            "AccountingStorageType=accounting_storage/none", "JobAcctGatherType=jobacct_gather/none",
            "SchedulerType=sched/builtin", "ReturnToService=2",
            "KillWait=5",  # seconds from a cancelled job's SIGTERM to its SIGKILL
            f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
            "PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""]))
        self._daemon(["munged", "--foreground", "--force", f"--socket={munge / 'munge.socket'}",
                      f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                      f"--seed-file={munge / 'munged.seed'}"])
        deadline = time.monotonic() + 30
        while not (munge / "munge.socket").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._daemon(["slurmctld", "-D", "-f", str(self.conf)])
        self._daemon(["slurmd", "-D", "-f", str(self.conf)])
        while self.run("sinfo", "--noheader", "--format", "%T").stdout.strip() != "idle":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the SLURM node is not idle after 30 s: {self.run('sinfo').stdout}")
            time.sleep(0.2)

    def _daemon(self, argv: list[str]):
        with open(self.folder / "logs" / f"{argv[0]}.out", "w") as log:
            self.daemons.append(subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL))

    def run(self, *argv) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)

    def jobs(self) -> list[str]:
        """The ids of this SLURM's jobs, pending, running or completing."""
        return self.run("squeue", "--noheader", "--format", "%i").stdout.split()

    def processes(self) -> set[int]:
        """Every running process of this SLURM: its daemons, its job steps and whatever its jobs started."""
        marker = f"SLURM_CONF={self.conf}".encode()
        found = set()
        for name in os.listdir("/proc"):
            with contextlib.suppress(OSError):
                if name.isdigit() and marker in Path(f"/proc/{name}/environ").read_bytes().split(b"\0"):
                    found.add(int(name))
        return running(found) - {os.getpid()}

    def stop(self) -> dict[int, str]:
        """Cancel every job, stop the daemons, then kill what of this SLURM still runs; returns the command lines
        of those killed so, by pid (none, where every job and daemon ended as it should). Once stopped, does
        nothing."""
        if not self.daemons:
            return {}
        if self.jobs():
            self.run("scancel", *self.jobs())
        deadline = time.monotonic() + 30
        while self.jobs() and time.monotonic() < deadline:
            time.sleep(0.2)
        for daemon in reversed(self.daemons):
            daemon.terminate()
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        self.daemons = []
        left = command_lines(self.processes())
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return left
