"""TLS inside the platform, as the controller's tools see it (issue #21).

The role `pki` leaves on every host the internal CA's trust bundle and the host's certificate
(`/etc/preau/pki`, docs/contracts.md); gunicorn serves that certificate on the app port, the
exporters on theirs. Here: how a command run on an app host asks its app over TLS (release
checks, the audit), and how a certificate's end date is read (status, the audit).
"""

from __future__ import annotations

import datetime

PKI_DIR = "/etc/preau/pki"
CA_BUNDLE = f"{PKI_DIR}/ca.pem"
HOST_CERT = f"{PKI_DIR}/host.crt"
# Converge renews a host certificate with 30 days left (role pki); fewer than this means the
# renewal did not happen: status and the audit say so, Prometheus alerts (monitoring/rules).
EXPIRY_WARNING_DAYS = 21
# Prints `notAfter=<date>` (nothing when there is no certificate).
ENDDATE_COMMAND = f"openssl x509 -noout -enddate -in {HOST_CERT} 2>/dev/null || true"


def local_url(host_name: str, port: int, path: str, tls: bool = True) -> str:
    """curl's arguments for path on the host itself (run on that host): over TLS, the
    certificate checked against the internal CA and the host's inventory name, which it
    carries, at 127.0.0.1."""
    if not tls:
        return f"http://127.0.0.1:{port}{path}"
    return (
        f"--cacert {CA_BUNDLE} --resolve {host_name}:{port}:127.0.0.1 "
        f"https://{host_name}:{port}{path}"
    )


def not_after(enddate: str) -> datetime.datetime | None:
    """The end of validity in `openssl x509 -enddate`'s answer (`notAfter=Dec  4 20:00:00 2027
    GMT`), None when there is none."""
    _, found, value = enddate.strip().partition("notAfter=")
    if not found:
        return None
    try:
        parsed = datetime.datetime.strptime(" ".join(value.split()), "%b %d %H:%M:%S %Y GMT")
    except ValueError:
        return None
    return parsed.replace(tzinfo=datetime.UTC)


def days_left(end: datetime.datetime, now: datetime.datetime | None = None) -> float:
    """Days from now to end (negative once expired)."""
    now = now or datetime.datetime.now(datetime.UTC)
    return (end - now).total_seconds() / 86400
