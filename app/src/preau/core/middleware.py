"""Cross-cutting middleware: request metrics + access log, maintenance mode."""
import logging
import time

from django.db import DatabaseError
from django.urls import Resolver404, resolve

from preau.core import metrics
from preau.core.errors import database_unavailable_response, maintenance_response

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
        metrics.REQUESTS.labels(view=view, method=request.method, status=str(response.status_code)).inc()
        metrics.LATENCY.labels(view=view).observe(elapsed)
        if not request.path.startswith(OPS_PATHS):
            log.info("request", extra={"method": request.method, "path": request.path,
                                       "status": response.status_code, "view": view,
                                       "duration_ms": round(elapsed * 1000, 1)})
        return response


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
                row = Platform.objects.filter(pk=1, maintenance=True).values("maintenance_message").first()
            except DatabaseError:
                return database_unavailable_response()
            if row is not None:
                return maintenance_response(row["maintenance_message"])
        return self.get_response(request)
