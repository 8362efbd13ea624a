"""Prometheus metrics. With [metrics] multiproc_dir set, every gunicorn worker writes its
samples there and /metrics aggregates them (prometheus_client multiprocess mode)."""

import os

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from preau.core import addresses

REQUESTS = Counter(
    "preau_http_requests_total", "HTTP requests by view and status", ["view", "method", "status"]
)
# Label values must stay few (each is a time series kept until the restart): the methods the
# site answers, anything else under one label (a client may send any word as its method).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY = Histogram(
    "preau_http_request_duration_seconds",
    "Request latency by view",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOGINS = Counter("preau_logins_total", "Login attempts by result", ["result"])
IMPORTS = Counter("preau_imports_total", "Directory imports by kind and result", ["kind", "result"])
SHED = Counter("preau_requests_shed_total", "Requests answered 'please wait' (queued too long)")
MERGES = Counter("preau_merges_total", "Establishment merges by result", ["result"])
NOTIFICATION_EMAILS = Counter(
    "preau_notification_emails_total", "Notification e-mails by result (sent, failed)", ["result"]
)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def from_monitoring(request) -> bool:
    """The request comes from a monitoring network (settings.PREAU_MONITORING_NETWORKS), judged
    on the peer's address alone: the monitoring host probes the app hosts directly, so a request
    relayed by the load balancer (or anything writing X-Forwarded-For) is not monitoring unless
    the load balancer itself is declared."""
    return addresses.within(
        addresses.parse(request.META.get("REMOTE_ADDR")), settings.PREAU_MONITORING_NETWORKS
    )


class ActiveSessionsCollector:
    """Active sessions are counted in the shared session table at scrape time."""

    def collect(self):
        from django.contrib.sessions.models import Session
        from django.utils import timezone

        gauge = GaugeMetricFamily("preau_active_sessions", "Sessions not yet expired")
        try:
            gauge.add_metric([], Session.objects.filter(expire_date__gt=timezone.now()).count())
        except Exception:  # database down: report nothing rather than fail the scrape
            return
        yield gauge


class JobQueueCollector:
    """The job queue (preau.jobs.queue.queue_status) read at scrape time: the same numbers from
    every app host, as the queue is the platform's (the alerts take their max)."""

    def collect(self):
        from preau.jobs.queue import queue_status

        try:
            state = queue_status()
        except Exception:  # database down or the queue's tables missing: report nothing
            return
        per_queue = {
            "todo": GaugeMetricFamily("preau_jobs_waiting", "Jobs waiting", labels=["queue"]),
            "doing": GaugeMetricFamily("preau_jobs_running", "Jobs running", labels=["queue"]),
            "failed": GaugeMetricFamily(
                "preau_jobs_failed", "Jobs failed (kept until purged)", labels=["queue"]
            ),
            "oldest_todo_seconds": GaugeMetricFamily(
                "preau_jobs_oldest_waiting_seconds", "Age of the oldest job due", labels=["queue"]
            ),
        }
        for name, counts in state["queues"].items():
            for key, gauge in per_queue.items():
                gauge.add_metric([name], counts[key])
        yield from per_queue.values()
        yield GaugeMetricFamily(
            "preau_jobs_workers", "Workers with a recent heartbeat", value=state["workers"]
        )
        yield GaugeMetricFamily(
            "preau_jobs_stalled",
            "Jobs marked running whose worker is silent",
            value=state["stalled_jobs"],
        )


class AafDeltaCollector:
    """The AAF's daily deltas (preau.core.delta.state) read at scrape time, for the alerts of
    monitoring/rules/app.yml (AafDelta*): a delivery refused, one waiting for an operator, none
    applied for days."""

    def collect(self):
        from preau.core.delta import state

        try:
            current = state()
        except Exception:  # database down: report nothing rather than fail the scrape
            return
        if current["last_applied"] is not None:
            yield GaugeMetricFamily(
                "preau_aaf_delta_last_applied_timestamp_seconds",
                "When the last AAF delta delivery was applied",
                value=current["last_applied"].timestamp(),
            )
        yield GaugeMetricFamily(
            "preau_aaf_delta_refused",
            "AAF delta deliveries refused in the last 24 hours",
            value=current["refused_24h"],
        )
        yield GaugeMetricFamily(
            "preau_aaf_delta_pending",
            "AAF delta deliveries waiting for an operator's confirmation (removal guard)",
            value=current["pending"],
        )


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry  # noqa: N811
    output = generate_latest(registry)
    extra = CollectorRegistry()
    extra.register(ActiveSessionsCollector())
    extra.register(JobQueueCollector())
    extra.register(AafDeltaCollector())
    return output + generate_latest(extra), CONTENT_TYPE_LATEST
