"""The dead-man's switch of the monitoring (roles/monitoring/files/preau-deadman.py, issue #23
item 5): when it mails the operators, and what it sends; the service end to end with a local
SMTP stand-in (the real thing runs in the lab: tests/lab/test_80_mail.py)."""

import importlib.util
import json
import sys

import pytest

from preau_ops.paths import ROLES


def _deadman():
    spec = importlib.util.spec_from_file_location(
        "preau_deadman", ROLES / "monitoring/files/preau-deadman.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["preau_deadman"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


deadman = _deadman()
State = deadman.State
CONFIG = {
    "environment": "lab",
    "hostname": "lb",
    "mail_from": "alertes@preau.test",
    "mail_to": ["astreinte@preau.test"],
    "delay": 300,
    "smtp": {"host": "relay", "port": 587, "starttls": True, "user": "preau"},
}


def test_silence_is_told_once_after_the_delay_then_its_end_once() -> None:
    state = State(last_ping=1000.0)
    state, event = deadman.on_tick(state, 1299.0, 300)
    assert event is None and not state.silent
    state, event = deadman.on_tick(state, 1300.0, 300)
    assert event == deadman.SILENT and state.silent
    state, event = deadman.on_tick(state, 5000.0, 300)
    assert event is None  # told once, not every tick
    state, event = deadman.on_ping(state, 5001.0)
    assert event == deadman.RESUMED and state == State(5001.0, False)
    state, event = deadman.on_ping(state, 5061.0)
    assert event is None and state == State(5061.0, False)


def test_pings_keep_it_quiet() -> None:
    state = State(last_ping=0.0)
    for minute in range(1, 60):
        state, event = deadman.on_ping(state, minute * 60.0)
        assert event is None
        state, event = deadman.on_tick(state, minute * 60.0 + 59, 300)
        assert event is None


@pytest.mark.parametrize(
    ("payload", "counts"),
    [
        ({"alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}}]}, True),
        ({"alerts": [{"status": "resolved", "labels": {"alertname": "Watchdog"}}]}, False),
        ({"alerts": [{"status": "firing", "labels": {"alertname": "HostDown"}}]}, False),
        ({"alerts": "nonsense"}, False),
        ([], False),
    ],
)
def test_only_a_firing_watchdog_counts(payload, counts) -> None:
    assert deadman.is_watchdog(payload) is counts


def test_the_mails_say_what_stopped_and_since_when() -> None:
    silent = deadman.message(deadman.SILENT, CONFIG, State(0.0, False), 400.0)
    assert silent["To"] == "astreinte@preau.test"
    assert "[critical]" in silent["Subject"] and "Watchdog" in silent["Subject"]
    assert "1970-01-01 00:00:00 UTC" in silent.get_content()
    assert "Prometheus" in silent.get_content()
    back = deadman.message(deadman.RESUMED, CONFIG, State(500.0, False), 500.0)
    assert "[resolved]" in back["Subject"]


class _Relay:
    """smtplib.SMTP's stand-in: records the mails, or refuses them."""

    sent: list = []
    refuse = False

    def __init__(self, host, port, timeout):
        self.address = (host, port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starttls(self, context):
        pass

    def login(self, user, password):
        assert (user, password) == ("preau", "relay-password")

    def send_message(self, mail):
        if _Relay.refuse:
            raise deadman.smtplib.SMTPException("relay down")
        _Relay.sent.append(mail)


def test_a_mail_the_relay_refuses_is_sent_again_later(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(deadman.smtplib, "SMTP", _Relay)
    _Relay.sent, _Relay.refuse = [], True
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"last_ping": 0.0, "silent": False}))
    switch = deadman.Switch(CONFIG, state_file, "relay-password")
    switch.tick()
    assert _Relay.sent == [] and not switch.state.silent  # not told: tried again
    _Relay.refuse = False
    switch.tick()
    assert len(_Relay.sent) == 1 and switch.state.silent
    assert json.loads(state_file.read_text())["silent"] is True  # kept across a restart
    assert deadman.Switch(CONFIG, state_file, None).state.silent
    switch.ping()
    assert "[resolved]" in _Relay.sent[-1]["Subject"] and not switch.state.silent
