"""Child processes for the topology and the benchmarks: each in its own
process group with its own log, and the CPU time they used, read from /proc."""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Proc:
    """A child process in its own process group, logging to a file."""

    name: str
    args: list[str]
    env: dict
    log_path: Path
    popen: subprocess.Popen | None = None
    cpu_before_exit: float = 0.0
    extra: dict = field(default_factory=dict)

    def start(self) -> None:
        log = open(self.log_path, "ab")
        try:
            self.popen = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)  # the group id is the leader's pid (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL, no warning: what the OOM killer or a power cut does."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group (gunicorn workers, a stuck child) goes too.
        self.signal_group(signal.SIGKILL)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def _live_cpu_seconds(field: int, value: int) -> float:
    """CPU time of every live process whose /proc stat `field` is `value`."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == value:
            total += sum(int(fields[i]) for i in (11, 12)) / os.sysconf("SC_CLK_TCK")
    return total


def group_cpu_seconds(pgid: int) -> float:
    """CPU time of every live process in a process group (gunicorn: master + workers)."""
    return _live_cpu_seconds(2, pgid)  # field 5: pgrp


def tree_cpu_seconds(parent_pid: int) -> float:
    """CPU of a process, its reaped children and its live children (PostgreSQL:
    postmaster + backends + parallel workers)."""
    return cpu_seconds(parent_pid) + _live_cpu_seconds(1, parent_pid)  # field 4: ppid
