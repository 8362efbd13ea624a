"""gunicorn settings: `gunicorn -c python:preau.gunicorn_conf preau.wsgi`.

bind and --workers come from the command line or the systemd unit (socket activation), which
override what is set here.

Workers: gthread workers with one thread each. A page is short and CPU-bound in Python (a few
ms waiting for PostgreSQL): more threads would only share one GIL and add switching; a few
more processes than cores (2 × cores + 1, gunicorn's usual rule, i.e. 5 on 2 cores) keep the
cores busy while some workers wait for the database. Beyond that, requests queue in the listen
backlog and the load shedding middleware answers the ones that waited too long
(preau.core.middleware). gthread rather than sync because the lb speaks TLS to the app hosts
(internal PKI) and a sync worker closes every connection: each request then paid a TCP
connection and a TLS handshake on both sides. gthread keeps the lb's connections alive
(`keepalive`, longer than nginx's 60 s upstream idle timeout, so that nginx closes first).
Measured on the prodlike lab (bench, 2 cores): activation page 538 req/s (sync) → 924 req/s,
logged-in mix 238 → 308 req/s (p95 130 → 136 ms, p99 153 → 191 ms: a worker serves the
connections it holds, one at a time, so the tail grows under a closed-loop overload).
"""

import gc
import multiprocessing
import os
import ssl
import time
from collections.abc import Callable
from typing import Any

workers = 2 * multiprocessing.cpu_count() + 1
worker_class = "gthread"
threads = 1
keepalive = 75  # s: nginx closes its idle upstream connections after 60 s
# The app is imported once by the master, then forked: workers start at once and share the
# imported code's memory. A release starts a fresh master (socket activation), so code is
# never reloaded in place.
preload_app = True
# No control socket (gunicorn >= 25: gunicornc's runtime management, in $XDG_RUNTIME_DIR or
# ~/.gunicorn): systemd starts, reloads and stops the app, and the unit's home is read-only
# (each start logged "Control server error: Read-only file system: '/srv/preau/.gunicorn'").
control_socket_disable = True
# The workers' heartbeat files on tmpfs: a slow disk must not make gunicorn kill busy workers.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"


# Young collections every 7,000 allocations instead of Python's 700: a page allocates thousands
# of objects that reference counting frees anyway (benchmark_cpu: a third of the collections'
# CPU, ~2 % of a page's).
GC_THRESHOLD = (7000, 10, 10)


# TLS (--certfile/--keyfile, given by the systemd unit): gunicorn asks for an SSLContext at every
# connection and by default makes a new one each time (certificate and key read again, and no
# session the client could resume). One per process instead, made again when the certificate
# or key file changes (a renewal), and made in the master before the workers fork (when_ready):
# they share its session ticket keys, so the lb resumes its TLS sessions with any worker.
_tls: dict[str, Any] = {}


def ssl_context(
    conf: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    stamp = tuple(os.stat(path).st_mtime_ns for path in (conf.certfile, conf.keyfile))
    if _tls.get("stamp") != stamp:
        _tls["context"], _tls["stamp"] = default_ssl_context_factory(), stamp
    context: ssl.SSLContext = _tls["context"]
    return context


def when_ready(server):
    """In the master, after the app is imported (preload_app) and before the workers fork: the
    app's objects live as long as the process; frozen, the workers' collections no longer walk
    them, nor write to their memory pages, which stay shared with the master. The TLS context
    is made here too, for the workers to share.

    The URLconf, and with it every view's module, is loaded here too: Django imports it at a
    process's first request, so each worker otherwise imported its own copy (~27 MB of private
    memory per worker: scripts/measure_memory.py), where now they share the master's."""
    from django.apps import apps
    from django.urls import get_resolver

    from preau.core import middleware

    if apps.ready:  # the app (preau.wsgi) is loaded: not a test's probe
        get_resolver().reverse_dict  # noqa: B018 (imports the URLconf, fills the reverse map)

    # requests queued during this start are served, not shed as overload (LoadShedding)
    middleware.SERVING_SINCE = time.time()
    gc.set_threshold(*GC_THRESHOLD)
    gc.collect()
    gc.freeze()
    if server.cfg.is_ssl:
        from gunicorn import sock

        sock.ssl_context(server.cfg)


def child_exit(server, worker):
    # Drop the dead worker's live gauges from prometheus_client's multiprocess directory.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """In a worker that stops (a release, a restart): the visits it still holds for the
    statistics are written (preau.console.usage; an error is logged, never raised)."""
    from preau.console.usage import buffer

    buffer.flush()
