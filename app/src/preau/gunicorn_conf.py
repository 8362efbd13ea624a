"""gunicorn settings hooks: `gunicorn -c python:preau.gunicorn_conf preau.wsgi`.

Only the multiprocess-metrics hook lives here; bind/workers come from the command line or the
systemd unit (socket activation)."""
import os


def child_exit(server, worker):
    # Drop the dead worker's live gauges from prometheus_client's multiprocess directory.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
