"""MON-03's judgement of what the monitoring host shows: where Prometheus and Alertmanager
listen, and what an anonymous client gets."""

from __future__ import annotations

from preau_ops.audit.controls.monitoring import answer_problems, binding_problems

PORTS = {"prometheus": 9090, "alertmanager": 9093}


def test_servers_on_the_private_address_alone_pass() -> None:
    listeners = [
        ("tcp", "10.0.2.41", 9090, "prometheus"),
        ("tcp", "10.0.2.41", 9093, "prometheus-alert"),
        ("tcp", "127.0.0.1", 9115, "prometheus-blackbox"),
    ]
    assert binding_problems(listeners, PORTS, "10.0.2.41") == []


def test_every_address_loopback_or_no_listener_are_named() -> None:
    listeners = [
        ("tcp", "0.0.0.0", 9090, "prometheus"),
        ("tcp", "127.0.0.1", 9090, "prometheus"),
        ("udp", "10.0.2.41", 9093, "x"),
    ]
    assert binding_problems(listeners, PORTS, "10.0.2.41") == [
        "prometheus listens on 0.0.0.0:9090, not only 10.0.2.41",
        "prometheus listens on 127.0.0.1:9090, not only 10.0.2.41",
        "alertmanager does not listen on port 9093",
    ]


def test_anonymous_access_must_be_refused_and_plain_http_get_nothing() -> None:
    assert answer_problems("prometheus", "401", "400") == []
    assert answer_problems("prometheus", "401", "000") == []
    assert answer_problems("alertmanager", "200", "200") == [
        "alertmanager answered 200 without credentials (401 expected)",
        "alertmanager answered 200 in plain HTTP",
    ]
    assert answer_problems("alertmanager", "000", "") == [
        "alertmanager answered 000 without credentials (401 expected)"
    ]
