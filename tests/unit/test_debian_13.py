"""What a platform built on Debian 13 (`deploy.py up --image trixie-bare`) showed, kept from
coming back on the Debian 12 lab the suite runs on: the nginx role's http-level directives
against Debian 13's own nginx.conf, and the nginx exporter's flags for the version installed
(Debian 12's 0.11, Debian 13's 1.x)."""

from __future__ import annotations

import re

from preau_ops.paths import ROLES

from .test_network import _plugins

# The directives Debian 13's /etc/nginx/nginx.conf (nginx 1.26.3-3) sets in its http block,
# which a conf.d file may not set again at that level ("directive is duplicate"); access_log and
# include may repeat.
DEBIAN_13_HTTP = {
    "sendfile",
    "tcp_nopush",
    "types_hash_max_size",
    "server_tokens",
    "default_type",
    "ssl_protocols",
    "ssl_prefer_server_ciphers",
    "gzip",
}
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")


def http_level_directives(text: str) -> set[str]:
    """The directives of an nginx conf.d file outside any block (its http level)."""
    names, depth = set(), 0
    for raw in text.splitlines():
        line = JINJA.sub("", raw).split("#", 1)[0].strip()
        if depth == 0 and line and not line.startswith(("{", "}")):
            names.add(line.split()[0].rstrip(";"))
        depth += line.count("{") - line.count("}")
    return names


def test_nginx_sets_nothing_debian_13_s_nginx_conf_already_sets_for_http():
    """Debian 13's nginx.conf sets server_tokens off itself: preau.conf's own at the http level
    stopped nginx ("server_tokens directive is duplicate"); it is now set per server."""
    text = (ROLES / "nginx/templates/preau.conf.j2").read_text()
    assert http_level_directives(text) & DEBIAN_13_HTTP == set()
    assert text.count("server_tokens off;") == text.count("\nserver {\n")
    before = "server_tokens off;\nserver {\n    listen 80;\n}\n"  # the template until now
    assert http_level_directives(before) == {"server_tokens", "server"}


def exporter_flags(version_output: str) -> str:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    _plugins()
    variables = {
        "ansible_managed": "managed",
        "monitoring__nginx_exporter_version": {"stdout": version_output, "stderr": ""},
        "monitoring_nginx_stub_status_url": "http://127.0.0.1:8080/stub_status",
        "monitoring__listen_address": "10.0.2.11",
        "monitoring_nginx_exporter_port": 9113,
        "monitoring_tls_cert_file": "/etc/preau/pki/host.crt",
        "monitoring_tls_key_file": "/etc/preau/pki/host.key",
    }
    text = (ROLES / "monitoring/templates/default-nginx-exporter.j2").read_text()
    rendered = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))
    return next(line for line in rendered.splitlines() if line.startswith("ARGS="))


def test_the_nginx_exporter_gets_the_flags_of_its_version():
    """Debian 13's exporter 1.4 refused 0.11's single-dash TLS flags and never started."""
    old = exporter_flags("NGINX Prometheus Exporter version=0.11.0-1+b4 commit= date=")
    assert "-web.secured-metrics -web.ssl-server-cert=/etc/preau/pki/host.crt" in old
    new = exporter_flags("nginx_exporter, version 1.4.1 (branch: debian/sid, revision: 1.4.1-1)")
    assert new == (
        'ARGS="--nginx.scrape-uri=http://127.0.0.1:8080/stub_status '
        '--web.listen-address=10.0.2.11:9113 --web.config.file=/etc/prometheus/exporters-web.yml"'
    )
