"""The one background job mechanism (issue #22 item 3) on the suite's real PostgreSQL: the
held notifications are delivered and e-mailed once however many workers run the delivery at
once, a periodic job is deferred once per slot whatever the number of workers, a job whose
worker died is run by another, and the queue's state is readable (`jobs status --json`).
Workers are real (procrastinate on connections of their own), so the database is
transactional here."""

import contextlib
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import zoneinfo
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.db import connection
from django.db.models.query import QuerySet
from procrastinate.contrib.django import app
from procrastinate.periodic import PeriodicDeferrer

from preau.ent import notify as notify_module
from preau.ent.models import Notification
from preau.jobs import queue, tasks
from tests.school import make_school

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
FRIDAY_NIGHT = dt.datetime(2026, 3, 13, 22, 0, tzinfo=PARIS)
MONDAY_MORNING = dt.datetime(2026, 3, 16, 7, 5, tzinfo=PARIS)
ADDRESSES = ["sophie.martin@example.org", "julien.fabre@example.org"]


@pytest.fixture
def held(run_jobs, settings):
    """A school that e-mails its notifications, and one held by the weekend for two users with
    an address."""
    s = make_school()
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    s["est"].settings = {"email_notifications": True}
    s["est"].save()
    for role, address in zip(("parent", "teacher"), ADDRESSES, strict=True):
        s[role].email = address
        s[role].save()
    notify_module.notify(
        s["est"], [s["parent"].pk, s["teacher"].pk], "Absence à justifier", now=FRIDAY_NIGHT
    )
    return s


def in_threads(*targets):
    """Run the targets at once, each in a thread with its own database connection."""

    def run(target):
        try:
            target()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def jobs_of(task_name: str) -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status::text, attempts FROM procrastinate_jobs WHERE task_name = %s",
            [task_name],
        )
        return cursor.fetchall()


def test_two_deliveries_at_once_deliver_and_email_each_notification_once(
    held, run_jobs, monkeypatch
):
    """Both deliveries read the due rows before either marks them (a barrier holds each one's
    update until the other got there): before the fix both e-mailed every notification."""
    barrier = threading.Barrier(2, timeout=5)
    update = QuerySet.update

    def update_after_both_read(self, **kwargs):
        if self.model is Notification and "delivered_at" in kwargs:
            with contextlib.suppress(threading.BrokenBarrierError):  # the fix: one updates
                barrier.wait()
        return update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", update_after_both_read)
    counts: list[int] = []
    deliver = lambda: counts.append(notify_module.deliver_due(MONDAY_MORNING))  # noqa: E731
    in_threads(deliver, deliver)
    run_jobs()
    assert sorted(counts) == [0, 2]
    assert Notification.objects.filter(delivered_at=MONDAY_MORNING).count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted(ADDRESSES)  # once each
    assert Notification.objects.filter(emailed_at__isnull=False).count() == 2


def test_a_periodic_slot_is_run_once_with_two_workers(held, monkeypatch):
    """Two workers' deferrers ask for the same slot of the delivery: one job; two workers
    then run the queue at once: the job runs once, each notification is e-mailed once."""
    monkeypatch.setattr(notify_module, "_now", lambda: MONDAY_MORNING)
    periodic = app.periodic_registry.periodic_tasks[
        ("deliver_notifications", "deliver_notifications")
    ]
    slot = int(MONDAY_MORNING.timestamp())
    for deferrer in (
        PeriodicDeferrer(app.periodic_registry),
        PeriodicDeferrer(app.periodic_registry),
    ):
        async_to_sync(deferrer.defer_jobs)([(periodic, slot)])
    assert jobs_of("deliver_notifications") == [("todo", 0)]
    worker = lambda: queue.run_worker(wait=False)  # noqa: E731
    in_threads(worker, worker)
    assert jobs_of("deliver_notifications") == [("succeeded", 1)]
    assert jobs_of("send_notification_emails") == [("succeeded", 1)]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(ADDRESSES)


def die_while_running(job_id: int) -> None:
    """A worker took the job, then its host stopped: its heartbeat is 5 minutes old."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - interval '5 minutes') RETURNING id"
        )
        worker_id = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s, attempts = 1 "
            "WHERE id = %s",
            [worker_id, job_id],
        )


def test_a_job_whose_worker_died_is_run_by_another(held, run_jobs):
    assert notify_module.deliver_due(MONDAY_MORNING) == 2
    (job_id,) = [j.id for j in app.job_manager.list_jobs(task="send_notification_emails")]
    die_while_running(job_id)
    run_jobs()  # a live worker does not take a job marked running…
    assert mail.outbox == [] and queue.queue_status()["stalled_jobs"] == 1
    assert tasks.retry_stalled_jobs(timestamp=0) == 1  # …until the stalled job goes back
    assert queue.queue_status()["stalled_jobs"] == 0
    run_jobs()
    assert [status for status, _ in jobs_of("send_notification_emails")] == ["succeeded"]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(ADDRESSES)


def worker_process(smtp_port: int) -> subprocess.Popen:
    """`preau-manage jobs worker --once` in a process of its own on the test database, its
    mail server at smtp_port."""
    db = connection.settings_dict
    app_dir = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": f"{app_dir / 'src'}{os.pathsep}{app_dir}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PREAU_DATABASE_HOST": str(db["HOST"]),
        "PREAU_DATABASE_PORT": str(db["PORT"]),
        "PREAU_DATABASE_NAME": db["NAME"],
        "PREAU_DATABASE_USER": db["USER"],
        "PREAU_DATABASE_PASSWORD": db["PASSWORD"],
        "PREAU_DATABASE_SSLMODE": "disable",
        "PREAU_EMAIL_ENABLED": "true",
        "PREAU_EMAIL_HOST": "127.0.0.1",
        "PREAU_EMAIL_PORT": str(smtp_port),
    }
    command = [sys.executable, "-m", "django", "jobs", "worker", "--once"]
    return subprocess.Popen(command, cwd=app_dir, env=env, stdout=subprocess.DEVNULL)


def test_a_job_whose_worker_process_is_killed_is_finished_by_another(
    held, run_jobs, settings, wait_for
):
    """A real worker process takes the e-mails' job, hangs on a mail server that never answers,
    and is killed (SIGKILL: as when its host dies). Once its heartbeat is stale the job goes
    back to the queue and another worker sends each message, once."""
    settings.PREAU_JOBS_STALLED_AFTER_SECONDS = 2
    assert notify_module.deliver_due(MONDAY_MORNING) == 2
    with socket.socket() as silent:  # accepts connections (backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        process = worker_process(silent.getsockname()[1])
        try:
            running = lambda: jobs_of("send_notification_emails")[0][0] == "doing"  # noqa: E731
            assert wait_for(running, timeout=30)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
    assert mail.outbox == []
    assert wait_for(lambda: queue.queue_status()["stalled_jobs"] == 1, timeout=20)
    assert tasks.retry_stalled_jobs(timestamp=0) == 1
    run_jobs()
    assert [status for status, _ in jobs_of("send_notification_emails")] == ["succeeded"]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(ADDRESSES)


def test_a_job_taken_again_does_not_resend_what_was_sent(held, run_jobs):
    """The worker died after the mail server accepted the first message: only the second is
    sent when the job runs again."""
    assert notify_module.deliver_due(MONDAY_MORNING) == 2
    first = Notification.objects.filter(user=held["parent"]).get()
    Notification.objects.filter(pk=first.pk).update(emailed_at=MONDAY_MORNING)
    (job_id,) = [j.id for j in app.job_manager.list_jobs(task="send_notification_emails")]
    die_while_running(job_id)
    assert tasks.retry_stalled_jobs(timestamp=0) == 1
    run_jobs()
    assert [m.to[0] for m in mail.outbox] == ["julien.fabre@example.org"]


def test_jobs_status_shows_depth_age_failures_and_workers(held, call_json):
    status = call_json("jobs", "status")
    assert status["ok"] is True and status["failed"] == 0 and status["stalled_jobs"] == 0
    assert set(status["queues"]) >= set(queue.QUEUES) and status["todo"] == 0
    notify_module.deliver_due(MONDAY_MORNING)
    status = call_json("jobs", "status")
    assert status["queues"]["emails"]["todo"] == 1 and status["todo"] == 1
    assert status["oldest_todo_seconds"] >= 0 and status["workers"] == 0


def test_metrics_carry_the_queue_for_the_alerts(held, client):
    """/metrics (scraped on each app host) reads the queue at scrape time: what the alerts of
    monitoring/rules/app.yml (Jobs*) watch."""
    notify_module.deliver_due(MONDAY_MORNING)
    text = client.get("/metrics").content.decode()
    assert 'preau_jobs_waiting{queue="emails"} 1.0' in text
    assert 'preau_jobs_failed{queue="emails"} 0.0' in text
    assert re.search(r'preau_jobs_oldest_waiting_seconds\{queue="emails"\} \d', text)
    assert "preau_jobs_workers 0.0" in text and "preau_jobs_stalled 0.0" in text


def test_a_polled_job_shows_its_state(held, run_jobs):
    job_id = queue.enqueue("purge_gone", timestamp=0)
    assert queue.job_status(job_id)["label"] == "en attente"
    run_jobs()
    done = queue.job_status(job_id)
    assert done["status"] == "succeeded" and done["finished"] and done["label"] == "terminée"
    assert queue.job_status(job_id + 1000) is None


RUNTIME_ROLE = "preau_jobs_runtime"


@pytest.fixture
def runtime_role(held):
    """A login role with the runtime's grants only, as the postgresql role gives them (DML on
    the tables, USAGE on the sequences, no ownership)."""
    statements = [
        f"CREATE ROLE {RUNTIME_ROLE} LOGIN",
        f"GRANT CONNECT ON DATABASE {connection.settings_dict['NAME']} TO {RUNTIME_ROLE}",
        f"GRANT USAGE ON SCHEMA public TO {RUNTIME_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {RUNTIME_ROLE}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {RUNTIME_ROLE}",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("creating a role needs the suite's own server (or a superuser)")
        for statement in statements:
            cursor.execute(statement)
    yield RUNTIME_ROLE
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {RUNTIME_ROLE}")
        cursor.execute(f"DROP ROLE {RUNTIME_ROLE}")


def test_the_runtime_role_runs_the_queue(runtime_role, monkeypatch):
    """The worker needs nothing beyond the runtime's grants: it registers, beats, fetches,
    finishes and prunes as that role (the job's own work runs on Django's connection)."""
    from procrastinate.contrib.django import utils
    from procrastinate.contrib.django.db_cleanup import DjangoApp
    from procrastinate.psycopg_connector import PsycopgConnector

    params = {**utils.connector_params("default"), "user": runtime_role, "password": ""}

    def as_runtime(periodic: bool = True) -> DjangoApp:
        own = DjangoApp(connector=PsycopgConnector(kwargs=params))
        own.tasks = app.tasks
        return own

    monkeypatch.setattr(queue, "worker_app", as_runtime)
    assert notify_module.deliver_due(MONDAY_MORNING) == 2
    in_threads(lambda: queue.run_worker(wait=False))  # not in a browser test's event loop
    assert [status for status, _ in jobs_of("send_notification_emails")] == ["succeeded"]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(ADDRESSES)


def test_an_unreachable_mail_server_is_tried_again_later(held, run_jobs, settings):
    """The e-mails' job fails while nothing listens at the mail server's address: the queue
    keeps it for a later attempt, and that attempt sends each message once."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    assert notify_module.deliver_due(MONDAY_MORNING) == 2
    run_jobs()
    assert jobs_of("send_notification_emails") == [("todo", 1)]  # scheduled a minute later
    assert not Notification.objects.filter(emailed_at__isnull=False).exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with connection.cursor() as cursor:  # that minute has passed
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now()")
    run_jobs()
    assert jobs_of("send_notification_emails") == [("succeeded", 2)]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(ADDRESSES)


def test_a_worker_without_the_host_files_leaves_the_long_queue(monkeypatch):
    """The preau-worker of every app host but the first runs `jobs worker --no-host-files`: the
    jobs that read or write the host's files (the long queue: AAF deltas, archives) are left to
    the first app host's worker, where the operator's procedures find those files."""
    from django.core.management import call_command

    from preau.jobs.management.commands import jobs as command

    asked = []
    monkeypatch.setattr(command, "run_worker", lambda wait, queues: asked.append(queues))
    call_command("jobs", "worker", "--no-host-files")
    call_command("jobs", "worker")
    call_command("jobs", "worker", "--queue", "long", "--queue", "emails", "--no-host-files")
    assert asked == [["emails", "periodic"], None, ["emails"]]
    assert queue.HOST_FILES_QUEUES == ("long",) and "long" in queue.QUEUES
