"""TLS-04/TLS-05's judgements on what they read (nginx's files, Prometheus's configuration and
targets); the lab runs them on real hosts (tests/lab/test_60_audit.py)."""

from typing import Any

from preau_ops.audit.controls import tls_inside

SNIPPET = """# Ansible managed
proxy_pass https://preau_app;
proxy_ssl_verify on;
proxy_ssl_verify_depth 2;
proxy_ssl_trusted_certificate /etc/preau/pki/ca.pem;
proxy_ssl_name $preau_app_tls_name;
"""
UPSTREAM = r"""upstream preau_app {
    zone preau_app 64k;
    server 10.0.2.21:8000 max_fails=3 fail_timeout=10s; # host app1
    server [fd00::22]:8000 down; # host app2
    keepalive 32;
}
map $upstream_addr $preau_app_tls_name {
    "~(^|, )10\.0\.2\.21:8000$" app1;
    "~(^|, )\[fd00::22\]:8000$" app2;
    default "";
}
"""
CA = "/etc/preau/pki/ca.pem"


def test_verified_proxying_passes() -> None:
    assert tls_inside.proxy_problems(SNIPPET, UPSTREAM, CA) == []


def test_plain_or_unverified_proxying_is_named() -> None:
    snippet = SNIPPET.replace("https://", "http://").replace("verify on", "verify off")
    assert tls_inside.proxy_problems(snippet, UPSTREAM, CA) == [
        "/etc/nginx/snippets/preau-proxy.conf lacks `proxy_pass https://preau_app;`",
        "/etc/nginx/snippets/preau-proxy.conf lacks `proxy_ssl_verify on;`",
    ]
    other_ca = tls_inside.proxy_problems(SNIPPET, UPSTREAM, "/etc/ssl/certs/ca.pem")
    assert other_ca == ["/etc/nginx/snippets/preau-proxy.conf does not trust /etc/ssl/certs/ca.pem"]


def test_an_app_host_without_its_certificate_name_is_named() -> None:
    upstream = UPSTREAM.replace('    "~(^|, )10\\.0\\.2\\.21:8000$" app1;\n', "")
    assert tls_inside.proxy_problems(SNIPPET, upstream, CA) == [
        "/etc/nginx/preau-upstream.conf: 10.0.2.21:8000 (app1) has no certificate name"
    ]
    assert tls_inside.proxy_problems(SNIPPET, "", CA) == [
        "/etc/nginx/preau-upstream.conf names no app host"
    ]


def target(job: str, url: str, instance: str = "app1") -> dict[str, Any]:
    return {"scrapeUrl": url, "labels": {"job": job, "instance": instance}}


CONFIG = {
    "scrape_configs": [
        {"job_name": "prometheus", "scheme": "http"},
        {"job_name": "node", "scheme": "https", "tls_config": {"ca_file": CA}},
        {"job_name": "probe_tls", "scheme": "http"},
    ]
}
OWN = {"10.0.2.41", "172.30.82.41", "ops"}


def test_scrapes_of_other_hosts_over_verified_tls_pass() -> None:
    targets = [
        target("prometheus", "https://10.0.2.41:9090/metrics", "ops"),  # its own address
        target("node", "https://10.0.2.21:9100/metrics"),
        target(
            "probe_tls", "http://127.0.0.1:9115/probe?module=tls_internal&target=10.0.2.21%3A9100"
        ),
    ]
    assert tls_inside.scrape_problems(CONFIG, targets, OWN) == []


def test_plain_or_unverified_scrapes_are_named() -> None:
    config = {
        "scrape_configs": [
            {"job_name": "app", "scheme": "http"},
            {
                "job_name": "node",
                "scheme": "https",
                "tls_config": {"ca_file": CA, "insecure_skip_verify": True},
            },
        ]
    }
    targets = [
        target("app", "http://10.0.2.21:8000/metrics"),
        target("node", "https://10.0.2.21:9100/metrics"),
        target("node", "https://[fd00::22]:9100/metrics", "app2"),
    ]
    assert tls_inside.scrape_problems(config, targets, OWN) == [
        "app/app1: http://10.0.2.21:8000/metrics not verified TLS",
        "node: TLS verification off",
    ]
