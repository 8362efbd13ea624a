"""The PDF and export jobs run by the worker in a process of their own with a memory limit
(preau.jobs.isolation, issue #26 item 6), with a real worker on the suite's PostgreSQL (the
database is transactional here, as in test_queue)."""

import logging
import os

from django.contrib.auth.models import Group
from django.db import transaction
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
