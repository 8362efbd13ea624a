"""Cross-cutting middleware: request metrics + access log, maintenance mode."""

import logging
import time

from django.db import DatabaseError
from django.urls import Resolver404, resolve

from preau.core import metrics
from preau.core.errors import (
    busy_response,
    database_unavailable_response,
    handler400,
    maintenance_response,
)

log = logging.getLogger("preau.access")

# Operational endpoints: never in maintenance, never counted per view by name lookups failing.
OPS_PATHS = ("/healthz", "/readyz", "/metrics", "/static/")


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - start
        match = getattr(request, "resolver_match", None)
        if match is None:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
        view = match.view_name if match else "unmatched"
        # view: a URL pattern's name or "unmatched", status: the response's code (set by our code):
        # both bounded; the method as sent by the client is not.
        metrics.REQUESTS.labels(
            view=view, method=metrics.method_label(request.method), status=str(response.status_code)
        ).inc()
        metrics.LATENCY.labels(view=view).observe(elapsed)
        if not request.path.startswith(OPS_PATHS):
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "view": view,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
        return response


def _holds_nul(request) -> bool:
    texts = [request.path, *request.COOKIES.values()]
    for data in (request.GET, request.POST):
        for key, values in data.lists():
            texts += [key, *values]
    return any("\x00" in text for text in texts)


class RejectNulMiddleware:
    """A request with a NUL character in its path, query, form fields or cookies gets a 400
    before any view: PostgreSQL can neither store nor compare text holding one (the query
    fails), and nothing a person types contains one. Uploaded files are not looked at."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _holds_nul(request):
            return handler400(request)
        return self.get_response(request)


class MaintenanceMiddleware:
    """Global maintenance (Platform.maintenance) answers 503 everywhere but ops endpoints.

    Per-establishment maintenance is checked by TenantMiddleware, which loads the
    establishment anyway.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(OPS_PATHS):
            from preau.core.models import Platform

            try:
                state = Platform.cached_state()
            except DatabaseError:
                return database_unavailable_response()
            if state["maintenance"]:
                return maintenance_response(state["maintenance_message"])
        return self.get_response(request)


def queue_seconds(header: str, now: float) -> float | None:
    """Time since the load balancer received the request, from `X-Request-Start: t=<epoch>`
    (nginx: `proxy_set_header X-Request-Start "t=${msec}";`, seconds with milliseconds)."""
    value = header.strip()
    if value.startswith("t="):
        value = value[2:]
    try:
        start = float(value)
    except ValueError:
        return None
    # Also accept milliseconds or microseconds since the epoch.
    while start > now * 100:
        start /= 1000
    return now - start


# When this app host's gunicorn became ready to serve (its master's when_ready, inherited by
# the workers it forks; 0 outside gunicorn). A request the load balancer received before that
# waited for the host's (re)start in the socket's queue, not behind an overload.
SERVING_SINCE = 0.0


class LoadSheddingMiddleware:
    """Beyond capacity, requests wait in the sockets' queues; once a request has waited longer
    than PREAU_MAX_QUEUE_SECONDS, answering it fully would only make the queue longer. It gets a
    fast French "please wait" page (503, Retry-After, no database access) instead: the platform
    degrades gracefully rather than collapsing.

    Not the requests that reached the load balancer before this host's gunicorn was ready: they
    waited for a restart (a converge's, whose socket keeps them), and shedding them turned a
    restart into failed requests (test_63's key rotation drill, before its hosts were drained)."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.limit = settings.PREAU_MAX_QUEUE_SECONDS

    def __call__(self, request):
        header = request.META.get("HTTP_X_REQUEST_START")
        if header and self.limit and not request.path.startswith(OPS_PATHS):
            now = time.time()
            waited = queue_seconds(header, now)
            if waited is not None and waited > self.limit and now - waited >= SERVING_SINCE:
                metrics.SHED.inc()
                return busy_response()
        return self.get_response(request)
