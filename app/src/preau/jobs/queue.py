"""The queue's API: enqueue a job, read a job's status (for a page that polls it), read the
queue's state (`preau-manage jobs status`), run a worker.

The engine is procrastinate (app/README.md, "Background jobs"): jobs are rows of
`procrastinate_jobs`, deferred in the caller's transaction (Django's connection: a job exists
only if the request that asked for it committed), fetched by exactly one worker
(`SELECT … FOR UPDATE SKIP LOCKED`), periodic jobs deferred once per schedule slot whatever the
number of workers (a unique row per task and timestamp), a worker's heartbeat every
HEARTBEAT_SECONDS; a worker silent for stalled_after() seconds is dead and its running jobs are
run again by another (tasks.retry_stalled_jobs, the one piece procrastinate leaves to us)."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any, cast

from django.conf import settings
from django.db import connection
from procrastinate.contrib.django import app
from procrastinate.contrib.django.db_cleanup import DjangoApp
from procrastinate.contrib.django.django_connector import DjangoConnector

from preau.jobs.isolation import in_own_process, preload

# The queues: short jobs first (e-mails, the periodic ones), long ones apart (imports, PDFs,
# statistics, exports) so that a long import never delays a notification's e-mail.
QUEUES = ("emails", "periodic", "long")
# The queues whose jobs read or write files of the host they run on (the AAF's drop directory,
# the closed establishments' archives): run by the first app host's worker only, where
# `deploy.py`'s procedures (establishment purge…) run too. While that host is down they wait.
HOST_FILES_QUEUES = ("long",)
HEARTBEAT_SECONDS = 10.0
# Status words of procrastinate, in French for a page that polls a job.
LABELS = {
    "todo": "en attente",
    "doing": "en cours",
    "succeeded": "terminée",
    "failed": "échouée",
    "cancelled": "annulée",
    "aborting": "en cours d'arrêt",
    "aborted": "arrêtée",
}


def stalled_after() -> float:
    """Seconds without a heartbeat after which a worker is dead (settings.PREAU_JOBS_STALLED_
    AFTER_SECONDS, 60: six missed beats; tests shorten it)."""
    return float(settings.PREAU_JOBS_STALLED_AFTER_SECONDS)


def enqueue(task_name: str, *, establishment_uai: str = "", **kwargs: Any) -> int:
    """Defer `task_name` (a name of tasks.py) in the caller's transaction; returns the job's
    id. `establishment_uai` is kept with the job so that a page of that establishment, and only
    it, may show its status (job_status)."""
    import preau.jobs.tasks  # noqa: F401 (registers the tasks with the app)

    task = app.tasks[task_name]
    if establishment_uai:
        kwargs["establishment_uai"] = establishment_uai
    return task.defer(**kwargs)


def job_status(job_id: int, establishment_uai: str = "") -> dict | None:
    """What a page polling job `job_id` shows: its state (and in French), attempts, times;
    None when there is no such job or it belongs to another establishment. A job deferred for
    an establishment since merged into this one (its UAI now an alias of this one's) is this
    establishment's: the page of its batch or group message, which moved, still shows it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, attempts, scheduled_at, args ->> 'establishment_uai' "
            "FROM procrastinate_jobs WHERE id = %s",
            [job_id],
        )
        row = cursor.fetchone()
    if row is None or (establishment_uai and not _same_establishment(row[3], establishment_uai)):
        return None
    status, attempts, scheduled_at, _ = row
    return {
        "id": job_id,
        "status": status,
        "label": LABELS.get(status, status),
        "attempts": attempts,
        "scheduled_at": scheduled_at,
        "finished": status in ("succeeded", "failed", "cancelled", "aborted"),
    }


def _same_establishment(job_uai: str | None, uai: str) -> bool:
    """The job's establishment is `uai`, or one merged into it (preau.core.merge)."""
    from preau.core.models import EstablishmentAlias

    return job_uai == uai or (
        job_uai is not None
        and EstablishmentAlias.objects.filter(uai=job_uai, establishment__uai=uai).exists()
    )


STATUS_SQL = """
SELECT queue_name, status::text, count(*), min(COALESCE(scheduled_at, e.at))
FROM procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT min(at) AS at FROM procrastinate_events WHERE job_id = j.id AND type = 'deferred'
) e ON true
WHERE status IN ('todo', 'doing', 'failed')
GROUP BY queue_name, status
"""


def queue_status(now: dt.datetime | None = None) -> dict:
    """The queue at a glance, for status and alerts: per queue the jobs waiting, running and
    failed, and the age of the oldest waiting one; the live workers (heartbeat) and the jobs
    still marked running whose worker is silent (stalled)."""
    from django.utils import timezone

    now = now or timezone.now()
    queues = {
        name: {"todo": 0, "doing": 0, "failed": 0, "oldest_todo_seconds": 0} for name in QUEUES
    }
    with connection.cursor() as cursor:
        cursor.execute(STATUS_SQL)
        for queue, status, count, oldest in cursor.fetchall():
            entry = queues.setdefault(
                queue, {"todo": 0, "doing": 0, "failed": 0, "oldest_todo_seconds": 0}
            )
            entry[status] = count
            if status == "todo" and oldest is not None:
                entry["oldest_todo_seconds"] = max(0, int((now - oldest).total_seconds()))
        workers, stalled = _workers(cursor)
    return {
        "queues": queues,
        "todo": sum(q["todo"] for q in queues.values()),
        "failed": sum(q["failed"] for q in queues.values()),
        "oldest_todo_seconds": max(q["oldest_todo_seconds"] for q in queues.values()),
        "workers": workers,
        "stalled_jobs": stalled,
    }


def _workers(cursor) -> tuple[int, int]:
    cursor.execute(
        "SELECT count(*) FROM procrastinate_workers "
        "WHERE last_heartbeat >= now() - make_interval(secs => %s)",
        [stalled_after()],
    )
    live = cursor.fetchone()[0]
    cursor.execute(
        "SELECT count(*) FROM procrastinate_jobs j "
        "LEFT JOIN procrastinate_workers w ON w.id = j.worker_id "
        "WHERE j.status = 'doing' AND (w.id IS NULL "
        "OR w.last_heartbeat < now() - make_interval(secs => %s))",
        [stalled_after()],
    )
    return live, cursor.fetchone()[0]


def worker_app(periodic: bool = True) -> DjangoApp:
    """An app of its own for one worker: the same tasks (and schedules unless `periodic` is
    false), on a connection pool of its own (a worker cannot run on Django's per-thread
    connection: it listens, and it runs jobs while the heartbeat goes on). The jobs' own
    deferrals go through the shared app, on Django's connection, in the job's transaction."""
    app.perform_import_paths()
    django_connector = cast(DjangoConnector, app.connector)
    own = DjangoApp(
        connector=django_connector.get_worker_connector(), worker_defaults=app.worker_defaults
    )
    own.tasks = app.tasks
    if periodic:
        own.periodic_registry = app.periodic_registry
    return own


def run_worker(*, wait: bool = True, queues: list[str] | None = None, name: str = "") -> None:
    """Run one worker: until stopped (SIGTERM: the job running finishes first) or, with
    wait=False, until the queues are empty (then it defers no periodic job). Jobs of a worker
    that died are run again by the others (tasks.retry_stalled_jobs)."""
    preload()  # what the PDF jobs' children would each import otherwise
    own = worker_app(periodic=wait)
    # After procrastinate's own (Django's connections closed around each job: DjangoApp's
    # defaults, which this list replaces), the PDF and export jobs in a process of their own.
    middleware = [*own.worker_defaults.get("task_middleware", []), in_own_process]
    own.run_worker(
        queues=queues,
        wait=wait,
        name=name or socket.gethostname(),
        concurrency=1,
        listen_notify=wait,
        install_signal_handlers=wait,
        update_heartbeat_interval=HEARTBEAT_SECONDS,
        stalled_worker_timeout=stalled_after(),
        delete_jobs="never",  # a page may poll a finished job; tasks.remove_old_jobs purges
        task_middleware=middleware,
    )
