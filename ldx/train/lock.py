"""One writer per workdir: an OS-level lock held while a process writes into it.

`hold(workdir, what)` takes an exclusive POSIX record lock (`fcntl.lockf`) on `<workdir>/.lock`
and records who holds it (pid, host, start time, what). The kernel drops the lock when the
process ends in any way, SIGKILL included, so a crash never leaves a stale lock; POSIX record
locks are what NFS (through lockd) and Lustre honour, so a workdir on a shared file system is
guarded across hosts too (in a multi-host run only process 0 writes, and only it locks).
A second writer gets `WorkdirBusy` naming the holder and has written nothing. `hold` is
re-entrant within a process: an app that holds the lock can call `ldx.train`, which holds it too.
On release the lock file is removed (a killed process leaves it, unlocked, for the next one); a
process that locked a file another one had just removed sees that its inode is no longer the
path's and tries again, so two writers never both hold.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time

from ldx.errors import CheckpointError

LOCK_NAME = ".lock"
_held: dict[str, int] = {}  # real path of a workdir -> the open lock file of this process


class WorkdirBusy(CheckpointError):
    """Another process is writing into the workdir."""


def _holder(path: str) -> str:
    try:
        with open(path) as f:
            info = json.load(f)
        return f"{info['what']} (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError):
        return "another process"


@contextlib.contextmanager
def hold(workdir: str, what: str, enabled: bool = True):
    """Holds `workdir`'s lock for the `with` body; WorkdirBusy if another process holds it.

    A workdir that does not exist yet has nothing to guard: the body runs unlocked (and is
    expected to fail or to create it under a lock of its own, as `ldx.train` does).
    """
    key = os.path.realpath(workdir)
    if not enabled or key in _held or not os.path.isdir(workdir):
        yield
        return
    path = os.path.join(workdir, LOCK_NAME)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EACCES, errno.EAGAIN):  # e.g. ENOLCK: no locks there
                raise CheckpointError(f"cannot lock {path}: {e.strerror or e}.") from None
            raise WorkdirBusy(
                f"{workdir} is in use by {_holder(path)}; wait for it to end or stop it, "
                "or use another workdir."
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed the file we locked: lock the path's file anew
    info = {
        "what": what,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    _held[key] = fd
    try:
        yield
    finally:
        del _held[key]
        os.unlink(path)  # before the lock is released, so no one locks a file about to go
        os.close(fd)  # releases the lock
