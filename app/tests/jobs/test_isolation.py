"""The PDF and export jobs run by the worker in a process of their own with a memory limit
(preau.jobs.isolation, issue #26 item 6), with a real worker on the suite's PostgreSQL (the
database is transactional here, as in test_queue)."""

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from procrastinate.contrib.django import app

from preau.jobs import isolation, queue, tasks


@app.task(name="test_allocate", queue="long")
def allocate(megabytes: int, fail: bool = False) -> int:
    """Test-only job: a row written, then `megabytes` allocated, in one transaction."""
    with transaction.atomic():
        Group.objects.create(name=f"job-{megabytes}-{os.getpid()}")
        block = bytearray(megabytes * 2**20)
        if fail:
            raise ValueError("échec voulu par le test")
    return len(block)


def test_a_job_past_its_memory_limit_fails_in_french_and_the_worker_runs_the_next(
    run_jobs, settings, monkeypatch, caplog
):
    monkeypatch.setattr(tasks, "OWN_PROCESS", tasks.OWN_PROCESS | {"test_allocate"})
    settings.PREAU_JOBS_HEAVY_MEMORY_MB = 64
    greedy = queue.enqueue("test_allocate", megabytes=256)
    failing = queue.enqueue("test_allocate", megabytes=1, fail=True)
    modest = queue.enqueue("test_allocate", megabytes=8)
    with caplog.at_level(logging.INFO, logger="procrastinate"):
        run_jobs()  # one worker, until the queue is empty
    assert [queue.job_status(job)["status"] for job in (greedy, failing, modest)] == [
        "failed",
        "failed",
        "succeeded",
    ]
    # Each ran in a child of the worker (here: this process), its transaction its own: the
    # greedy and the failing jobs' rows were rolled back, the modest one's committed.
    (name,) = Group.objects.values_list("name", flat=True)
    megabytes, pid = name.removeprefix("job-").split("-")
    assert megabytes == "8" and int(pid) != os.getpid()
    text = caplog.text
    assert "mémoire dépassée : la tâche test_allocate a demandé plus que sa limite de 64 Mo" in text
    assert "ValueError: échec voulu par le test" in text  # the child's exception, as it was


def test_other_jobs_and_direct_calls_run_in_the_callers_process():
    """Only the tasks of tasks.OWN_PROCESS go to a child; a task called directly (a command, a
    test) never does."""
    ran_in = []

    class Context:
        class task:  # noqa: N801 (procrastinate's JobContext.task)
            name = "send_notification_emails"

    assert isolation.in_own_process(lambda: ran_in.append(os.getpid()), Context, None) is None
    assert ran_in == [os.getpid()]
    assert "make_bulletins" in tasks.OWN_PROCESS and "gar_export" in tasks.OWN_PROCESS


# Held by a thread of the worker's process (here: the test's) while the worker forks a child.
HELD = threading.Lock()


@app.task(name="test_hang", queue="long")
def hang(pid_file: str) -> None:
    """Test-only job: its pid written down, then HELD acquired. In the child, the thread that
    held HELD at the fork does not exist: no one will ever release it, the child hangs."""
    Path(pid_file).write_text(str(os.getpid()))
    HELD.acquire()


def test_a_child_hung_on_a_lock_held_at_the_fork_is_killed_and_the_worker_runs_the_next(
    run_jobs, settings, monkeypatch, caplog, tmp_path
):
    monkeypatch.setattr(tasks, "OWN_PROCESS", tasks.OWN_PROCESS | {"test_hang", "test_allocate"})
    settings.PREAU_JOBS_HEAVY_TIMEOUT_SECONDS = 2
    pid_file = tmp_path / "hung.pid"
    hung = queue.enqueue("test_hang", pid_file=str(pid_file))
    after = queue.enqueue("test_allocate", megabytes=1)
    held, release, finished = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with HELD:
            held.set()
            release.wait(60)

    def watchdog() -> None:
        # Without a deadline the worker would wait for the hung child for ever: killed here
        # after 10 s, so that such code fails this test instead of hanging the suite.
        if not finished.wait(10):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    guard = threading.Thread(target=watchdog)
    guard.start()
    try:
        with caplog.at_level(logging.INFO, logger="procrastinate"):
            run_jobs()
    finally:
        finished.set()
        release.set()
        guard.join()
        holder.join()
    assert [queue.job_status(job)["status"] for job in (hung, after)] == ["failed", "succeeded"]
    assert (
        "délai dépassé : la tâche test_hang n'a pas fini dans sa limite de 2 s ([jobs] "
        "heavy_timeout_seconds) ; son processus est arrêté, rien n'est enregistré"
    ) in caplog.text
    hung_pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped: a zombie would still answer
        os.kill(hung_pid, 0)
    # The next job ran normally, in a new child, its row committed.
    (name,) = Group.objects.values_list("name", flat=True)
    megabytes, pid = name.removeprefix("job-").split("-")
    assert megabytes == "1" and int(pid) not in (hung_pid, os.getpid())


def write_then_loop() -> None:
    """A row written in a transaction, then a loop that never ends."""
    with transaction.atomic():
        Group.objects.create(name="job-looping")
        while True:
            time.sleep(0.05)


def test_a_job_killed_at_its_deadline_leaves_nothing_recorded(transactional_db):
    with pytest.raises(isolation.JobTimeoutError, match="test_loop n'a pas fini"):
        isolation.run_in_child(write_then_loop, "test_loop", limit_mb=64, timeout=1)
    # Not merely invisible: the child's transaction is gone. Were it still open, this insert of
    # the same (unique) name would wait on it until lock_timeout; were it committed, it would
    # fail with an IntegrityError.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        Group.objects.create(name="job-looping")
    assert Group.objects.count() == 1


def write_then_query() -> None:
    """A row written in a transaction, then a query that runs a minute."""
    with transaction.atomic(), connection.cursor() as cursor:
        Group.objects.create(name="job-querying")
        cursor.execute("SELECT pg_sleep(60)")


def test_a_job_killed_inside_a_query_leaves_no_lock_behind(transactional_db):
    """Killed while its query runs, the child's server session would run that query to its
    end, a minute, holding the row's lock, since PostgreSQL reads from a client only between
    queries: the insert below then waited on it (lock_timeout). The connections ask the server
    to check its client during queries (settings: client_connection_check_interval)."""
    with pytest.raises(isolation.JobTimeoutError, match="test_query n'a pas fini"):
        isolation.run_in_child(write_then_query, "test_query", limit_mb=64, timeout=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '15s'")
        Group.objects.create(name="job-querying")
    assert Group.objects.count() == 1
