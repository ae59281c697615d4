"""The standard library's private multiprocessing and concurrent.futures names hpsearch uses:
a process pool's worker processes, and the fork server's "alive" pipe in a forked worker.
"""

from __future__ import annotations

import os


def worker_processes(executor) -> list:
    """The processes of a ``concurrent.futures.ProcessPoolExecutor``'s pool now (none once it
    has shut down).

    Why: Ctrl-C or SIGTERM kills a worker mid-fit, before the pool is shut down and waited
    for. Public alternative: ``ProcessPoolExecutor.kill_workers()`` from Python 3.14, which
    also shuts the pool down without waiting.
    """
    return list((getattr(executor, "_processes", None) or {}).values())


def close_fork_server_alive_fd() -> None:
    """In a process forked by the fork server: close the write end of the fork server's
    "alive" pipe that it hands to every process it forks, and forget it.

    Why: while any process holds that end the fork server lives, so a worker keeping it
    would keep the fork server (and so itself) alive after the study's process is killed.
    Public alternative: none.
    """
    from multiprocessing import forkserver

    server = forkserver._forkserver
    alive = server._forkserver_alive_fd
    if alive is not None:
        os.close(alive)
        server._forkserver_alive_fd = None


def missing() -> list[str]:
    """The private names above that this Python lacks."""
    from concurrent.futures import ProcessPoolExecutor

    names = []
    if "_processes" not in _names_used(ProcessPoolExecutor.__init__):
        names.append("concurrent.futures.ProcessPoolExecutor._processes")
    try:
        from multiprocessing import forkserver
    except ImportError:  # no fork server on this platform
        forkserver = None
    server = getattr(forkserver, "_forkserver", None)
    if server is None:
        names.append("multiprocessing.forkserver._forkserver")
    elif not hasattr(server, "_forkserver_alive_fd"):
        names.append("multiprocessing.forkserver.ForkServer._forkserver_alive_fd")
    return names


def _names_used(function) -> tuple[str, ...]:
    """The attribute and global names ``function``'s code uses (``self._x`` gives ``_x``)."""
    return getattr(getattr(function, "__code__", None), "co_names", ())
