"""Starting processes, finding everything they started, signalling, reaping.

This module is the only place that calls fork/exec, kill, killpg, waitid
or pidfd_open; everything above it speaks in terms of a `Child`.

Why process groups, a subreaper and pidfds, rather than watching one pid:

* Each process starts as the leader of a new session, hence of a new
  process group. A shell wrapper and the program it runs share that group,
  so one killpg() reaches both; that alone fixes the circus seed, where the
  signal reached only `/bin/sh`.
* The daemon is a child subreaper (PR_SET_CHILD_SUBREAPER). A descendant
  whose parent dies is re-parented to the daemon instead of init, so even a
  process that left the group with setsid() stays below the daemon and
  can be found by walking parent links in /proc.
* Exits are events: the leader's pidfd becomes readable when it exits and
  SIGCHLD wakes the daemon for re-parented orphans. Processes that are not
  our children (members of a group whose leader is gone) get a pidfd too,
  which is readable when they exit. Nothing is polled.
* Ownership is checked, never assumed: a pid found in /proc is opened as a
  pidfd and its start time compared with what the scan saw before it is
  signalled, so a recycled pid is never hit.

A `Child` is one started generation. It is over ("gone") when its leader
has been reaped and no process of its group, its session or its subtree
is left. Output pipes are the business of `output`; `program` waits for
both.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import grp
import logging
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from corral.errors import CorralError

log = logging.getLogger("corral.process")

PR_SET_CHILD_SUBREAPER = 36
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


# ---------------------------------------------------------------------------
# Kernel capabilities


def set_subreaper() -> bool:
    """Make orphaned descendants come back to us. Returns False if refused."""
    return bool(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def pidfd_supported() -> bool:
    """True when this kernel has pidfd_open (Linux 5.3 and later)."""
    try:
        fd = os.pidfd_open(os.getpid())
    except (OSError, AttributeError):
        return False
    os.close(fd)
    return True


def boot_id() -> str:
    """An id that changes with every boot, to tell stale records apart."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# /proc


class ProcInfo(NamedTuple):
    """What /proc/PID/stat says about one process."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    start: int

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def stat(pid: int) -> ProcInfo | None:
    """Read /proc/PID/stat, or None if there is no such process."""
    # os.open/os.read: a scan reads every process's file, and a Python
    # file object would triple the cost of each.
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split(None, 20)
    try:
        return ProcInfo(pid, int(fields[1]), int(fields[2]), int(fields[3]),
                        chr(fields[0][0]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def scan(floor: int = 0) -> dict[int, ProcInfo]:
    """Every process visible in /proc with a pid above FLOOR, by pid."""
    table: dict[int, ProcInfo] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) > floor:
            info = stat(int(entry))
            if info is not None:
                table[info.pid] = info
    return table


class Snapshot:
    """One scan of /proc, indexed the way membership questions need it:
    children by parent, and members by process group and by session."""

    def __init__(self, table: dict[int, ProcInfo]) -> None:
        self.table = table
        self.children: dict[int, list[int]] = {}
        self.groups: dict[int, list[int]] = {}
        for info in table.values():
            self.children.setdefault(info.ppid, []).append(info.pid)
            self.groups.setdefault(info.pgid, []).append(info.pid)
            if info.sid != info.pgid:
                self.groups.setdefault(info.sid, []).append(info.pid)


# One scan serves every child that asks within the same loop iteration;
# a scan above a floor serves only those whose floor is at least as high.
_shared: tuple[int, Snapshot] | None = None
_counters: tuple[int, int] | None = None


def shared_scan(loop: asyncio.AbstractEventLoop, floor: int = 0) -> Snapshot:
    """`scan`, taken at most once per event loop iteration and floor."""
    global _shared
    if _shared is not None and _shared[0] <= floor:
        return _shared[1]
    if _shared is None and _counters is None:
        loop.call_soon(_forget_scan)
    snapshot = Snapshot(scan(floor))
    _shared = (floor, snapshot)
    return snapshot


def _forget_scan() -> None:
    global _shared, _counters
    _shared = None
    _counters = None


def shared_floor(loop: asyncio.AbstractEventLoop, leader: int,
                 forks_then: int) -> int:
    """`pid_floor`, reading the kernel's counters once per loop iteration."""
    global _counters
    if _counters is None:
        if _shared is None:
            loop.call_soon(_forget_scan)
        _counters = (forks_since_boot(), last_pid())
    return pid_floor(leader, forks_then, *_counters)


def forks_since_boot() -> int:
    """How many processes the kernel has created since boot (/proc/stat)."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"processes "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def _pid_max() -> int:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 32768


PID_MAX = _pid_max()


def last_pid() -> int:
    """The pid the kernel handed out last (/proc/loadavg), or -1."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return -1


def pid_floor(leader: int, forks_then: int, forks_now: int, last: int) -> int:
    """The lowest pid a process started after LEADER can have, or 0.

    Pids grow until they wrap around at pid_max. While fewer processes than
    half of pid_max were created since the leader, nothing created after it
    can have a smaller pid, and a scan may skip every older process: in a
    crash loop or a respawn, that is nearly all of them.
    """
    if forks_then < 0 or forks_now < 0 or last < 0:
        return 0
    if forks_now - forks_then >= PID_MAX // 2:
        return 0
    return leader - 1 if last >= leader else 0


def environ_value(pid: int, name: str) -> str | None:
    """The value of one variable in a process's initial environment."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def pipe_holders(inodes: Iterable[int], exclude: int) -> set[int]:
    """Pids of processes holding any of the given pipes open."""
    wanted = {f"pipe:[{inode}]" for inode in inodes}
    holders: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}") in wanted:
                    holders.add(int(entry))
                    break
            except OSError:
                continue
    return holders


def describe_status(status: int | None) -> str:
    """'exit status 1', 'killed by SIGKILL' for a returncode-style value."""
    if status is None:
        return "not exited"
    if status >= 0:
        return f"exit status {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    return f"killed by {name}"


# ---------------------------------------------------------------------------
# Signalling


def signal_pid(pid: int, sig: int) -> bool:
    """Send a signal to one pid we have just verified. False if it is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """Send a signal to a process group. False if the group is empty."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A member changed its credentials (setuid); the rest got it.
        return True
    return True


def group_exists(pgid: int) -> bool:
    """True while any process, zombies included, is in the group."""
    return signal_group(pgid, 0)


# ---------------------------------------------------------------------------
# Reaping


class Reaper:
    """Reaps every child of the daemon and routes exits to their `Child`.

    There is one reaper: the leaders' pidfds and SIGCHLD both call `reap`,
    which collects every exited child with waitid(P_ALL). Leaders are
    dispatched to their `Child`; any other pid is an orphan that came back
    to us as subreaper, and reaping it is all there is to do.
    """

    def __init__(self) -> None:
        self.leaders: dict[int, Child] = {}
        self.orphans_reaped = 0
        self.listeners: list[Callable[[], None]] = []

    def reap(self) -> None:
        while True:
            try:
                result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if result is None:
                return
            if result.si_code == os.CLD_EXITED:
                status = result.si_status
            else:
                status = -result.si_status
            child = self.leaders.pop(result.si_pid, None)
            if child is not None:
                child.leader_reaped(status)
            else:
                self.orphans_reaped += 1
                log.debug("reaped orphan pid=%d (%s)", result.si_pid,
                          describe_status(status))
                for listener in list(self.listeners):
                    listener()


# ---------------------------------------------------------------------------
# Spawning


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to exec one process."""

    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    user: str | None = None
    group: str | None = None
    umask: int | None = None
    merge_stderr: bool = False


class SpawnError(CorralError):
    """The program could not be started (bad path, permission, cwd, user)."""


@dataclass
class Pipes:
    """The read ends of a new process's stdout and stderr."""

    stdout: int
    stderr: int | None


def _make_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        import fcntl

        fcntl.fcntl(read_end, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # over the per-user pipe budget: the default size still works
    os.set_blocking(read_end, False)
    return read_end, write_end


@dataclass(frozen=True)
class Credentials:
    """Who a process runs as; all None means 'as the daemon'."""

    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None


def credentials(user: str | None, group: str | None) -> Credentials:
    """Resolve a user and group; the user's supplementary groups come along.

    Raises `SpawnError` for a name this system does not know.
    """
    gid: int | None = None
    if group is not None:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise SpawnError(f"no such group {group!r}") from None
    if user is None:
        return Credentials(gid=gid)
    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise SpawnError(f"no such user {user!r}") from None
    if gid is None:
        gid = pw.pw_gid
    return Credentials(pw.pw_uid, gid, os.getgrouplist(pw.pw_name, gid))


def spawn(spec: LaunchSpec) -> tuple[subprocess.Popen[bytes], Pipes]:
    """Start a process as leader of a new session with its output piped.

    Raises `SpawnError` with a one-line reason if it could not be started.
    """
    out_r, out_w = _make_pipe()
    err_r: int | None = None
    err_w = out_w
    if not spec.merge_stderr:
        err_r, err_w = _make_pipe()

    try:
        who = credentials(spec.user, spec.group)
        popen = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            cwd=spec.cwd,
            env=spec.env,
            start_new_session=True,
            restore_signals=True,
            close_fds=True,
            umask=-1 if spec.umask is None else spec.umask,
            user=who.uid,
            group=who.gid,
            extra_groups=who.groups,
        )
    except (OSError, subprocess.SubprocessError, ValueError, SpawnError) as exc:
        for fd in (out_r, err_r):
            if fd is not None:
                os.close(fd)
        raise SpawnError(_spawn_reason(exc, spec)) from None
    finally:
        os.close(out_w)
        if err_w != out_w:
            os.close(err_w)
    return popen, Pipes(out_r, err_r)


def _spawn_reason(exc: BaseException, spec: LaunchSpec) -> str:
    if isinstance(exc, SpawnError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        if exc.filename == spec.cwd or not os.path.isdir(spec.cwd):
            return f"working directory {spec.cwd} does not exist"
        return f"{spec.argv[0]}: no such file or directory"
    if isinstance(exc, PermissionError):
        return f"{spec.argv[0]}: permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{spec.argv[0]}: {exc.strerror}"
    return f"{spec.argv[0]}: {exc}"


# ---------------------------------------------------------------------------
# One started generation


class Child:
    """A started process, its group, and every descendant that belongs to it.

    `on_leader_exit` is called once the leader has been reaped; `on_gone`
    once nothing of it is left. Both are called from the event loop.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        reaper: Reaper,
        popen: subprocess.Popen[bytes],
        name: str,
        on_leader_exit: Callable[[int], None],
        on_gone: Callable[[], None],
    ) -> None:
        self.loop = loop
        self.reaper = reaper
        self.popen = popen
        self.name = name
        self.pid = popen.pid
        self.pgid = popen.pid
        self.started = time.monotonic()
        self.started_wall = time.time()
        info = stat(self.pid)
        self.start_ticks = info.start if info else 0
        self.forks_at_start = forks_since_boot()
        self.status: int | None = None
        self.on_leader_exit = on_leader_exit
        self.on_gone = on_gone
        self.gone = False
        self.members: dict[int, int | None] = {}  # pid -> pidfd (None: no pidfd)
        self.member_starts: dict[int, int] = {}
        self.signalled: list[int] = []
        self.escalated = False
        # A scan after the leader was reaped found nothing: nothing can
        # appear later, since only members create members.
        self.confirmed_empty = False
        self._pending_check = False

        self.pidfd: int | None
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except OSError:
            self.pidfd = None  # exited and reaped already, or no pidfd support
        if self.pidfd is not None:
            loop.add_reader(self.pidfd, reaper.reap)
        reaper.leaders[self.pid] = self
        reaper.listeners.append(self._schedule_check)

    def __repr__(self) -> str:
        state = "gone" if self.gone else ("exited" if self.status is not None
                                          else "running")
        return f"<Child {self.name} pid={self.pid} {state}>"

    # -- events ------------------------------------------------------------

    def leader_reaped(self, status: int) -> None:
        """Called by the reaper with the leader's returncode-style status."""
        self.status = status
        self.popen.returncode = status  # so Popen never waits on it again
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        self.on_leader_exit(status)
        self._schedule_check()

    def _member_exited(self, pid: int) -> None:
        fd = self.members.pop(pid, None)
        self.member_starts.pop(pid, None)
        if fd is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
        self._schedule_check()

    def _schedule_check(self) -> None:
        if not self._pending_check and not self.gone:
            self._pending_check = True
            self.loop.call_soon(self._check)

    def _check(self) -> None:
        """Decide whether anything of this child is left; watch what is."""
        self._pending_check = False
        if self.gone or self.status is None:
            return
        if self.confirmed_empty and not self.members:
            self._finish()
            return
        newcomers = [info for info in self.find_members() if self._watch(info)]
        # Newcomers get the signals the others already had.
        for sig in self.signalled:
            for info in newcomers:
                self._send(info.pid, sig)
        if self.signalled:
            self._continue_stopped([info.pid for info in newcomers])
        if not self.members:
            self._finish()

    def _finish(self) -> None:
        self.gone = True
        try:
            self.reaper.listeners.remove(self._schedule_check)
        except ValueError:
            pass
        self.on_gone()

    # -- membership --------------------------------------------------------

    def find_members(self) -> list[ProcInfo]:
        """Live processes that belong to this child, except a reaped leader.

        Members are: the group and session the child was started in, every
        descendant of those, and orphans re-parented to the daemon that
        carry this child's marker in their environment. One scan of /proc
        is shared by every child that asks within the same loop iteration.
        """
        leader_alive = self.status is None
        me = os.getpid()
        floor = shared_floor(self.loop, self.pid, self.forks_at_start)
        snapshot = shared_scan(self.loop, floor)
        table, children = snapshot.table, snapshot.children

        # Group and session: the leader's pid is both ids.
        roots = [p for p in snapshot.groups.get(self.pgid, []) if p != me]
        roots.extend(p for p in self.members if p in table)
        for pid in children.get(me, []):
            if pid in self.reaper.leaders or pid in roots:
                continue
            if environ_value(pid, "CORRAL_PROCESS") == self.name:
                roots.append(pid)

        result: dict[int, ProcInfo] = {}
        stack = list(roots)
        while stack:
            pid = stack.pop()
            if pid in result or pid not in table:
                continue
            info = table[pid]
            if pid == self.pid and not leader_alive:
                continue  # reaped: this pid may belong to someone else now
            if info.zombie or (pid != self.pid and pid in self.reaper.leaders):
                continue
            result[pid] = info
            stack.extend(children.get(pid, []))
        result.pop(self.pid, None)
        if not leader_alive and not result:
            self.confirmed_empty = True
        return list(result.values())

    def _watch(self, info: ProcInfo) -> bool:
        """Track a member until it exits. True if it was not tracked yet."""
        if info.pid in self.members:
            return False
        try:
            fd: int | None = os.pidfd_open(info.pid)
        except ProcessLookupError:
            return False
        except OSError:
            fd = None
        again = stat(info.pid)
        if again is None or again.start != info.start:
            if fd is not None:
                os.close(fd)
            return False  # it died, and the pid may be someone else's now
        self.members[info.pid] = fd
        self.member_starts[info.pid] = info.start
        if fd is not None:
            self.loop.add_reader(fd, self._member_exited, info.pid)
        else:
            # No pidfd on this kernel: look again shortly, while it lasts.
            self.loop.call_later(0.1, self._recheck_unwatched)
        return True

    def _recheck_unwatched(self) -> None:
        for pid, fd in list(self.members.items()):
            info = stat(pid)
            if fd is None and (info is None or info.zombie
                               or info.start != self.member_starts.get(pid)):
                self._member_exited(pid)
            elif fd is None:
                self.loop.call_later(0.1, self._recheck_unwatched)
                return

    # -- signalling --------------------------------------------------------

    def _send(self, pid: int, sig: int) -> None:
        fd = self.members.get(pid)
        try:
            if fd is not None:
                signal.pidfd_send_signal(fd, sig)
            elif pid == self.pid and self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            log.warning("%s: not allowed to signal pid=%d", self.name, pid)

    def send_main(self, sig: int) -> bool:
        """Signal the leader only. False if it has exited."""
        if self.status is not None:
            return False
        self._send(self.pid, sig)
        return True

    def send_group(self, sig: int) -> bool:
        """Signal the process group. False if it is empty."""
        if self.status is not None and not group_exists(self.pgid):
            return False
        return signal_group(self.pgid, sig)

    def send_tree(self, sig: int) -> bool:
        """Signal the group and every other process that belongs here.

        Returns False when there was no process left to signal.
        """
        sent = self.send_group(sig)
        for info in self.find_members():
            self._watch(info)
            if info.pgid != self.pgid:
                self._send(info.pid, sig)
                sent = True
        return sent

    def terminate(self, sig: int) -> None:
        """Start a graceful stop: the signal to every member, then SIGCONT
        to those that are stopped, so they can act on it."""
        if sig not in self.signalled:
            self.signalled.append(sig)
        self.send_tree(sig)
        self._continue_stopped([self.pid, *self.members])
        self._schedule_check()

    def _continue_stopped(self, pids: list[int]) -> None:
        """SIGCONT to those of PIDS that are stopped (and only to them: a
        program may well log every signal it gets)."""
        for pid in pids:
            info = stat(pid)
            if info is not None and info.state == "T":
                self._send(pid, signal.SIGCONT)

    def kill(self) -> list[int]:
        """SIGKILL to everything that is left. Returns the pids hit."""
        self.escalated = True
        if signal.SIGKILL not in self.signalled:
            self.signalled.append(signal.SIGKILL)
        hit = [info.pid for info in self.find_members()]
        if self.status is None:
            hit.append(self.pid)
        self.send_tree(signal.SIGKILL)
        for pid in list(self.members):
            self._send(pid, signal.SIGKILL)
        self._schedule_check()
        return sorted(set(hit))

    def adopt_pipe_holders(self, inodes: Iterable[int]) -> list[int]:
        """Make processes that hold our pipes members, and signal them.

        They belong to the program: they could only get its pipes from it.
        They get every signal the members already had.
        """
        found = []
        for pid in pipe_holders(inodes, exclude=os.getpid()):
            info = stat(pid)
            if info is None or not self._watch(info):
                continue
            found.append(pid)
            for sig in self.signalled:
                self._send(pid, sig)
        if self.signalled:
            self._continue_stopped(found)
        if found:
            self.gone = False
            self.confirmed_empty = False
            if self._schedule_check not in self.reaper.listeners:
                self.reaper.listeners.append(self._schedule_check)
        return found

    def close(self) -> None:
        """Forget every watched pidfd (the child is gone or abandoned)."""
        for pid in list(self.members):
            fd = self.members.pop(pid)
            if fd is not None:
                self.loop.remove_reader(fd)
                os.close(fd)
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        try:
            self.reaper.listeners.remove(self._schedule_check)
        except ValueError:
            pass


# ---------------------------------------------------------------------------
# Processes that belong to no program any more


def adopted_orphans(leaders: Iterable[int]) -> list[ProcInfo]:
    """Our children that are not leaders, with all their descendants.

    These are processes whose parents exited and that came back to the
    daemon as subreaper without a program to claim them.
    """
    me = os.getpid()
    known = set(leaders)
    table = scan()
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    stack = [p for p in children.get(me, []) if p not in known]
    found: dict[int, ProcInfo] = {}
    while stack:
        pid = stack.pop()
        entry = table.get(pid)
        if entry is None or pid in found or entry.zombie:
            continue
        found[pid] = entry
        stack.extend(children.get(pid, []))
    return list(found.values())


async def end_processes(victims: list[ProcInfo], sig: int, timeout: float) -> None:
    """Signal each process (verified by start time), wait, then SIGKILL.

    Each victim is opened as a pidfd and checked to be the very process
    that was found, so a recycled pid is never signalled.
    """
    loop = asyncio.get_running_loop()
    opened: dict[int, tuple[int, asyncio.Future[None]]] = {}
    for victim in victims:
        try:
            fd = os.pidfd_open(victim.pid)
        except OSError:
            continue
        again = stat(victim.pid)
        if again is None or again.start != victim.start:
            os.close(fd)
            continue
        future: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _exited, loop, fd, future)
        opened[victim.pid] = (fd, future)
        for each in (sig, signal.SIGCONT) if again.state == "T" else (sig,):
            try:
                signal.pidfd_send_signal(fd, each)
            except ProcessLookupError:
                pass

    try:
        if opened:
            futures = [future for _, future in opened.values()]
            _, pending = await asyncio.wait(futures, timeout=timeout)
            for fd, future in opened.values():
                if future in pending:
                    try:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if pending:
                await asyncio.wait(pending, timeout=KILL_WAIT)
    finally:
        for fd, _ in opened.values():
            loop.remove_reader(fd)
            os.close(fd)


KILL_WAIT = 5.0


def _exited(loop: asyncio.AbstractEventLoop, fd: int,
            future: asyncio.Future[None]) -> None:
    loop.remove_reader(fd)
    if not future.done():
        future.set_result(None)


def errno_name(exc: OSError) -> str:
    """'ENOSPC' for an OSError, for compact log lines."""
    return errno.errorcode.get(exc.errno or 0, str(exc.errno))
