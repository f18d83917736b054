"""A memory and time ceiling around reading a file: the second line of defence.

The readers check every extent before they allocate (:mod:`portal.sheets.extent`), but a
reader is code, and code has bugs: a native library that aborts on a failed allocation
takes the whole web worker with it. So the process that parses an upload (a web request,
the CLI, a job) reads it in a forked child whose address space and CPU time are capped
(``setrlimit``). When the child dies, runs out of memory or out of time, the parent gets
a clear :class:`~portal.sheets.reader.FileProblem` ``"memory"``; nothing was written,
because reading writes nothing.

Linux (and other Unixes with ``fork``) only; elsewhere the read runs in-process.
"""
from __future__ import annotations

import faulthandler
import multiprocessing
import resource
import signal
import time
from multiprocessing.reduction import ForkingPickler
from dataclasses import dataclass

__all__ = ["Limits", "Outcome", "run_limited", "DEFAULT"]


@dataclass(frozen=True)
class Limits:
    """``memory_mb``: address space the child may add to what it inherits (MB; 0: no
    child at all, read in-process: for debugging only, it removes this line of defence);
    ``seconds``: the CPU time allowed (the parent waits 1.5 times that on the clock)."""

    memory_mb: int = 1024
    seconds: int = 20


DEFAULT = Limits()


@dataclass
class Outcome:
    """How a limited call ended: ``kind`` is ``"ok"`` (``value`` holds the result),
    ``"raised"`` (``value`` holds the exception the function raised, re-created in the
    parent), ``"memory"`` (a ``MemoryError`` in the child), ``"killed"`` (the child died:
    ``detail`` names the signal or exit code, e.g. SIGABRT from a native allocation that
    failed) or ``"timeout"``."""

    kind: str
    value: object = None
    detail: str = ""
    peak_kb: int | None = None   # the child's peak resident memory (KB), when it reported
    added_kb: int | None = None  # … less what it had at the start (shared with the parent)
    largest_message: int | None = None  # bytes of the largest message the child sent


def _status_kb(key: str) -> int:
    """A ``/proc/self/status`` figure in KB (``VmSize``, ``VmRSS``), 0 when unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _child(conn, fn, args, limits: Limits, stream: bool):
    faulthandler.disable()  # an abort here is an expected outcome, told to the parent
    try:
        start_kb = _status_kb("VmRSS")
        ceiling = (_status_kb("VmSize") + limits.memory_mb * 1024) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.seconds, limits.seconds + 5))
        try:
            if stream:
                for piece in fn(*args):
                    conn.send(("piece", piece))
                    del piece  # sent: the child keeps nothing of it
                kind, value = "ok", None
            else:
                kind, value = "ok", fn(*args)
        except MemoryError:
            kind, value = "memory", None
        except Exception as exc:  # handed to the parent, which raises it
            kind, value = "raised", exc
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            conn.send(("end", kind, value, peak_kb, start_kb))
        except MemoryError:
            conn.send(("end", "memory", None, peak_kb, start_kb))
        except Exception as exc:  # an exception that cannot be pickled
            conn.send(("end", "raised", RuntimeError(repr(exc)), peak_kb, start_kb))
    finally:
        conn.close()


def run_limited(fn, *args, limits: Limits = DEFAULT, stream: bool = False) -> Outcome:
    """Call ``fn(*args)`` in a forked child capped by ``limits``; never raises for what the
    child does (see :class:`Outcome`). ``fn``'s result and exceptions must pickle.

    With ``stream``, ``fn(*args)`` returns an iterable whose items the child sends one
    message each as it makes them, and ``Outcome.value`` is the list of the items (when
    ``kind`` is ``"ok"``; items sent before an exception are dropped): a big result crosses
    the pipe in pieces, so that neither process holds it whole as one pickle besides its
    objects. ``Outcome.largest_message`` gives the size of the biggest message (bytes).

    With ``limits.memory_mb == 0``, or where ``fork`` is missing, ``fn`` runs in-process
    and only its own exceptions are caught.
    """
    if limits.memory_mb <= 0 or "fork" not in multiprocessing.get_all_start_methods():
        try:
            return Outcome("ok", list(fn(*args)) if stream else fn(*args))
        except MemoryError:
            return Outcome("memory")
        except Exception as exc:
            return Outcome("raised", exc)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args, limits, stream), daemon=True)
    proc.start()
    send.close()
    # CPU seconds, and some waiting for a busy core
    deadline = time.monotonic() + limits.seconds * 1.5 + 1
    pieces, largest = [], 0
    try:
        while True:
            if not receive.poll(max(0.0, deadline - time.monotonic())):
                proc.kill()
                proc.join(5)
                return Outcome("timeout", detail=f"{limits.seconds} s")
            try:
                message = receive.recv_bytes()
            except (EOFError, OSError):
                break  # the child died while sending or before: its exit code says how
            largest = max(largest, len(message))
            message = ForkingPickler.loads(message)
            if message[0] == "piece":
                pieces.append(message[1])
                continue
            _, kind, value, peak_kb, start_kb = message
            if stream and kind == "ok":
                value = pieces
            return Outcome(kind, value, peak_kb=peak_kb, added_kb=peak_kb - start_kb,
                           largest_message=largest)
        proc.join(5)
        code = proc.exitcode
        if code is not None and code < 0:
            try:
                detail = signal.Signals(-code).name
            except ValueError:
                detail = f"signal {-code}"
        else:
            detail = f"exit code {code}"
        return Outcome("killed", detail=detail)
    finally:
        receive.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        try:
            proc.close()
        except ValueError:  # pragma: no cover - still running after kill and join
            pass
