"""The PDF and export jobs in a process of their own, with a memory limit (issue #26 item 6).

A job that draws PDFs (letters, bulletins) or writes an export (LSU, GAR, a closed
establishment's bundle) imports ReportLab or builds large files in memory. Run in the worker's
own process, what it allocated stays with the worker for its whole life (Python seldom gives
memory back to the system), and one job's runaway allocation would take the worker, and every
other job of the host, down with it (the unit's MemoryMax kills the whole service).

So the worker runs those jobs (tasks.OWN_PROCESS) in a child process: forked, so it starts at
once with the worker's code and settings already loaded (no second Django start-up), and with
an address-space limit (`resource.RLIMIT_AS`) of `[jobs] heavy_memory_mb` beyond what it
inherited. Past it, an allocation fails (MemoryError) and the job fails with a French reason
(JobMemoryError) in the worker's journal; its transaction is rolled back when the child's
connection closes, nothing half-written stays. The worker goes on with the next job, its own
memory untouched: the child's is given back when it exits.

Each child also has a deadline, `[jobs] heavy_timeout_seconds`. The worker runs threads (its
heartbeat, procrastinate's own): a lock one of them held at the fork (logging's, a connection
pool's) stays held for ever in the child, whose only thread then waits on it; a job may also
loop. Past the deadline the worker kills the child (SIGKILL: a hung process answers no
SIGTERM), reaps it, and the job fails (JobTimeoutError) with nothing recorded, as above; the
worker, which would otherwise wait for ever and take no other job, goes on.

It is a procrastinate task middleware (`in_own_process`, given to the worker by
queue.run_worker): the task functions stay plain, and a task called directly (a command, a
test) runs in the caller's process as before.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import resource
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

# In a child: the worker's connections, copied by the fork, never closed (_child).
_SET_ASIDE: list = []


# What the PDF jobs import: the web workers no longer import it (ent.pdf), so the worker does,
# once when it starts, and its children find it loaded, shared by the fork; imported by each
# child instead, it cost every job ~110 ms (a child importing these: 111-141 ms, 4-9 ms
# preloaded).
PRELOADED = (
    "reportlab.pdfgen.canvas",
    "reportlab.lib.utils",
    "reportlab.graphics.renderPDF",
    "reportlab.graphics.barcode.qr",
    "reportlab.graphics.shapes",
)


def preload() -> None:
    """Import PRELOADED in the worker (queue.run_worker), before it forks any job."""
    for name in PRELOADED:
        importlib.import_module(name)


class JobMemoryError(Exception):
    """A job's process went past its memory limit."""


class JobProcessError(Exception):
    """A job's process ended without an answer (killed by a signal, a crash)."""


class JobTimeoutError(Exception):
    """A job's process did not answer before its deadline: it was killed."""


def in_own_process(call_next: Callable[[], Any], context, worker) -> Any:
    """procrastinate's sync task middleware: the tasks of tasks.OWN_PROCESS run in a child
    process with a memory limit, the others here."""
    from preau.jobs import tasks

    name = context.task.name if context.task is not None else ""
    if name not in tasks.OWN_PROCESS:
        return call_next()
    return run_in_child(
        call_next,
        name,
        settings.PREAU_JOBS_HEAVY_MEMORY_MB,
        settings.PREAU_JOBS_HEAVY_TIMEOUT_SECONDS,
    )


def run_in_child(func: Callable[[], Any], name: str, limit_mb: int, timeout: float) -> Any:
    """func() in a forked child whose address space may grow by `limit_mb` MB at most and
    which must answer within `timeout` seconds: its result, or its exception raised here
    (JobMemoryError past the limit, JobTimeoutError past the deadline)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(func, limit_mb, send), name=f"job {name}")
    deadline = time.monotonic() + timeout
    child.start()
    send.close()
    answered = False
    value: Any = None
    try:
        answered = receive.poll(timeout)  # True too when the child ended without a word
        outcome, value = receive.recv() if answered else ("timeout", None)
    except EOFError:  # the child died before answering
        outcome, value = "died", None
    finally:
        receive.close()
        # Once it has answered, a second at least to exit, so that a job that answered just
        # in time is not killed on its way out; none past the deadline without an answer.
        _end(child, max(deadline - time.monotonic(), 1.0) if answered else 0)
    if outcome == "ok":
        return value
    if outcome == "memory":
        raise JobMemoryError(
            f"mémoire dépassée : la tâche {name} a demandé plus que sa limite de {limit_mb} Mo "
            "([jobs] heavy_memory_mb) ; elle est arrêtée, rien n'est enregistré"
        )
    if outcome == "timeout":
        raise JobTimeoutError(
            f"délai dépassé : la tâche {name} n'a pas fini dans sa limite de {timeout:g} s "
            "([jobs] heavy_timeout_seconds) ; son processus est arrêté, rien n'est enregistré"
        )
    if outcome == "error":
        raise value
    raise JobProcessError(
        f"le processus de la tâche {name} s'est arrêté sans réponse (code {child.exitcode}) ; "
        "rien n'est enregistré"
    )


def _end(child, wait: float) -> None:
    """Reap the child, killed if it is still there after `wait` seconds (still running the
    job, or hung on its way out after answering)."""
    child.join(wait)
    if child.is_alive():
        child.kill()  # SIGKILL: a child hung on a lock would never handle a SIGTERM
        child.join()  # reaped, no zombie left behind


def _child(func: Callable[[], Any], limit_mb: int, send) -> None:
    """In the child: its own database connections, the limit, func(), the outcome sent."""
    # The worker's objects, inherited, are left out of the child's collections (as gunicorn's
    # workers leave the master's: gunicorn_conf.when_ready): walked, each of their memory
    # pages would be copied into the child (measured: a child's full collection left it 31 MB
    # of private pages without, 5 MB with; 956 → 321 ms).
    gc.freeze()
    # The worker's connections were copied by the fork: closing them here would end the
    # worker's sessions on the server, so they are set aside (kept referenced until the child
    # ends with os._exit, which runs no finalizer) and Django opens new ones.
    for connection in connections.all(initialized_only=True):
        _SET_ASIDE.append(connection.connection)
        connection.connection = None
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + limit_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        send.send(("ok", func()))
    except MemoryError:
        send.send(("memory", None))
    except BaseException as exc:
        exc.add_note("".join(traceback.format_exception(exc)))  # the child's traceback
        try:
            send.send(("error", exc))
        except Exception:  # an exception that cannot be pickled: its text
            send.send(("error", JobProcessError(f"{type(exc).__name__}: {exc}")))
    finally:
        connections.close_all()  # the child's own
        send.close()


def _address_space() -> int:
    """This process' address space in bytes (VmSize)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmSize absent de /proc/self/status")
