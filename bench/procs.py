"""The processes of one sandbox, read from the host's /proc.

Everything is read from outside the sandbox (no nsenter, no ps): the
sandbox's processes are the host's processes whose pid namespace is its
PID 1's.  Reading /proc does not wake the process read, so measuring the
idle cost does not disturb it.

A process is (host pid, start time): pids are reused, and a measurement
over a window must compare the same process at both ends.
"""

import os
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Every program the bench runs as a "daemon" lives here (inside the
# sandbox); whatever else runs in the sandbox, besides its PID 1, is the
# supervision under test: supervisors, fork server, runsvdir/runsv, monit.
DAEMON_DIR = "/run/bench/bin/"


@dataclass(frozen=True)
class Proc:
    pid: int            # as the host sees it
    nspid: int          # as the sandbox sees it
    ppid: int           # host pid of the parent
    start: int          # start time, clock ticks since boot
    argv: tuple         # its command line

    @property
    def key(self):
        return (self.pid, self.start)

    @property
    def cmdline(self):
        return " ".join(self.argv)

    @property
    def is_daemon(self):
        # The program itself (bench-idle), or the script a shell runs
        # (/bin/sh /run/bench/bin/bench-daemon SVC).  Not a mere argument:
        # a supervisor's own command line names its daemon's command.
        return any(a.startswith(DAEMON_DIR) for a in self.argv[:2])


def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def _stat(pid):
    """The fields of /proc/PID/stat after comm (field 3 is index 0)."""
    data = _read("/proc/%d/stat" % pid, "rb")
    if not data:
        return None
    return data[data.rindex(b")") + 2:].split()


def _status(pid, task=None):
    path = "/proc/%d/status" % pid if task is None else "/proc/%d/task/%d/status" % (pid, task)
    text = _read(path)
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def processes(init_pid):
    """Every live process of the sandbox whose PID 1 is init_pid, except
    that PID 1 itself (the bench's reaper, not under test)."""
    ns = os.readlink("/proc/%d/ns/pid" % init_pid)
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == init_pid:
            continue
        try:
            if os.readlink("/proc/%d/ns/pid" % pid) != ns:
                continue
        except OSError:
            continue
        st, status = _stat(pid), _status(pid)
        if st is None or status is None or st[0] in (b"Z", b"X"):
            continue
        nspids = status.get("NSpid", "").split()
        cmd = _read("/proc/%d/cmdline" % pid, "rb") or b""
        argv = tuple(a.decode(errors="replace") for a in cmd.split(b"\0")[:-1])
        out.append(Proc(pid, int(nspids[-1]) if nspids else pid, int(st[1]), int(st[19]), argv))
    return out


def supervision(init_pid):
    """The processes under test: all but the daemons."""
    return [p for p in processes(init_pid) if not p.is_daemon]


def daemons(init_pid):
    return [p for p in processes(init_pid) if p.is_daemon]


def host_pid(init_pid, nspid):
    """The host pid of the sandbox's process nspid, or None."""
    for p in processes(init_pid):
        if p.nspid == nspid:
            return p.pid
    return None


def still(proc):
    """Is this very process (same pid, same start) still alive?"""
    st = _stat(proc.pid)
    return st is not None and st[0] not in (b"Z", b"X") and int(st[19]) == proc.start


# -- figures -------------------------------------------------------------------

def memory_kb(proc):
    """{'Pss': kB, 'Private_Dirty': kB} from /proc/PID/smaps_rollup."""
    text = _read("/proc/%d/smaps_rollup" % proc.pid) or ""
    out = {"Pss": 0, "Private_Dirty": 0}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in out:
            out[k] = int(v.split()[0])
    return out


def cpu_ticks(proc):
    """utime + stime of the process (all its threads), in clock ticks."""
    st = _stat(proc.pid)
    return int(st[11]) + int(st[12]) if st else None


def switches(proc):
    """Voluntary + involuntary context switches, summed over its threads:
    each is one time the process went to sleep or was put off the CPU, so
    an idle process that never wakes up adds none."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % proc.pid)
    except OSError:
        return None
    for t in tasks:
        s = _status(proc.pid, int(t))
        if s:
            total += int(s.get("voluntary_ctxt_switches", 0)) + int(s.get("nonvoluntary_ctxt_switches", 0))
    return total


@dataclass
class Snapshot:
    """Counters of a set of processes at one moment."""
    at: float
    cpu: dict       # key -> ticks
    ctx: dict       # key -> switches


def snapshot(procs, at):
    cpu, ctx = {}, {}
    for p in procs:
        c, s = cpu_ticks(p), switches(p)
        if c is not None and s is not None and still(p):
            cpu[p.key], ctx[p.key] = c, s
    return Snapshot(at, cpu, ctx)


def window(before, after):
    """(seconds, cpu seconds, context switches) between two snapshots,
    over the processes alive at both ends."""
    keys = before.cpu.keys() & after.cpu.keys()
    cpu = sum(after.cpu[k] - before.cpu[k] for k in keys) / CLK_TCK
    ctx = sum(after.ctx[k] - before.ctx[k] for k in keys)
    return after.at - before.at, cpu, ctx
