from preau.core.management.base import OpsCommand
from preau.jobs.queue import HOST_FILES_QUEUES, QUEUES, queue_status, run_worker


class Command(OpsCommand):
    help = (
        "The background job queue: `status` (per queue the jobs waiting, running, failed, the "
        "oldest waiting one's age; live workers, stalled jobs), `worker` (run one worker: the "
        "preau-worker service of each app host; --once: until the queues are empty)."
    )
    changes_data = False

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "worker"])
        parser.add_argument("--once", action="store_true", help="worker: stop once idle")
        parser.add_argument(
            "--queue", action="append", choices=QUEUES, help="worker: only these queues"
        )
        parser.add_argument(
            "--no-host-files",
            action="store_true",
            help="worker: leave the queues whose jobs use this host's files "
            f"({', '.join(HOST_FILES_QUEUES)}: AAF deltas, archives) to the first app host's "
            "worker (the other app hosts' preau-worker)",
        )

    def run(self, action, once=False, queue=None, no_host_files=False, **_):
        if action == "worker":
            if no_host_files:
                queue = [q for q in (queue or QUEUES) if q not in HOST_FILES_QUEUES]
            run_worker(wait=not once, queues=queue)
            return {"worker": "stopped"}
        return queue_status()

    def render(self, r):
        if "queues" not in r:
            return "worker arrêté"
        lines = [
            f"{name:<10} en attente {q['todo']:>5}  en cours {q['doing']:>3}  "
            f"échouées {q['failed']:>4}  plus ancienne {q['oldest_todo_seconds']} s"
            for name, q in r["queues"].items()
        ]
        lines.append(f"workers actifs : {r['workers']}, tâches bloquées : {r['stalled_jobs']}")
        return "\n".join(lines)
