#!/usr/bin/python3
"""preau-deadman: the dead-man's switch of Préau's monitoring (role monitoring).

Alertmanager sends the always-firing Watchdog alert here every minute (an HTTPS webhook). When
no Watchdog has arrived for `delay` seconds (Prometheus, its rules, Alertmanager or the
monitoring host stopped), one e-mail tells the operators through the platform's SMTP relay;
one more when the Watchdog comes back. Standard library only.

    preau-deadman CONFIG.json
CONFIG: listen address and port, TLS files, delay, the relay and the mail (no secret); the
relay's password is read from $PREAU_DEADMAN_PASSWORD_FILE; the state (last Watchdog, whether
the silence was told) is kept in $STATE_DIRECTORY/state.json across restarts.
"""

from __future__ import annotations

import json
import os
import smtplib
import socket
import ssl
import sys
import threading
import time
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TICK = 5  # seconds between two looks at the silence
SILENT, RESUMED = "silent", "resumed"


# ------------------------------------------------------------------------ the decision (pure)


@dataclass(frozen=True)
class State:
    last_ping: float  # when the last Watchdog arrived (or the switch started waiting)
    silent: bool = False  # the silence was told and no Watchdog came since


def on_ping(state: State, now: float) -> tuple[State, str | None]:
    """A Watchdog arrived: the new state, and RESUMED when the silence had been told."""
    return State(now, False), (RESUMED if state.silent else None)


def on_tick(state: State, now: float, delay: float) -> tuple[State, str | None]:
    """Time passed: SILENT once when no Watchdog came for `delay` seconds."""
    if not state.silent and now - state.last_ping >= delay:
        return State(state.last_ping, True), SILENT
    return state, None


def is_watchdog(payload: Any) -> bool:
    """Whether an Alertmanager webhook payload carries the Watchdog, firing."""
    alerts = payload.get("alerts") if isinstance(payload, dict) else None
    return any(
        isinstance(alert, dict)
        and (alert.get("labels") or {}).get("alertname") == "Watchdog"
        and alert.get("status") == "firing"
        for alert in alerts or []
    )


def message(event: str, config: dict[str, Any], state: State, now: float) -> EmailMessage:
    """The operators' e-mail for SILENT or RESUMED."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(state.last_ping))
    where = f"{config['environment']}, {config['hostname']}"
    mail = EmailMessage()
    mail["From"] = config["mail_from"]
    mail["To"] = ", ".join(config["mail_to"])
    if event == SILENT:
        mail["Subject"] = (
            f"[Préau {config['environment']}] [critical] La surveillance ne répond plus / "
            "Monitoring silent (Watchdog)"
        )
        mail.set_content(
            f"Aucune alerte Watchdog reçue depuis {since} ({now - state.last_ping:.0f} s) : "
            "Prometheus, ses règles, Alertmanager ou l'hôte de surveillance sont arrêtés.\n"
            f"No Watchdog alert since {since}: Prometheus, its rules, Alertmanager or the "
            f"monitoring host stopped; no other alert can reach you meanwhile.\n\n({where})\n"
        )
    else:
        mail["Subject"] = (
            f"[Préau {config['environment']}] [resolved] La surveillance répond de nouveau / "
            "Monitoring back (Watchdog)"
        )
        mail.set_content(
            f"L'alerte Watchdog arrive de nouveau (depuis {since}).\n"
            f"The Watchdog alert arrives again (since {since}).\n\n({where})\n"
        )
    return mail


# ------------------------------------------------------------------------------ the service


class Switch:
    """The state, its file, and the mail; `ping` and `tick` are called from two threads."""

    def __init__(self, config: dict[str, Any], state_file: Path, password: str | None):
        self.config, self.state_file, self.password = config, state_file, password
        self.lock = threading.Lock()
        try:
            self.state = State(**json.loads(state_file.read_text()))
        except (OSError, ValueError, TypeError):
            self.state = State(time.time())  # waiting starts now

    def ping(self) -> None:
        self._apply(on_ping)

    def tick(self) -> None:
        self._apply(lambda state, now: on_tick(state, now, float(self.config["delay"])))

    def _apply(self, decide: Any) -> None:
        with self.lock:
            now = time.time()
            new, event = decide(self.state, now)
            if event:
                try:
                    self._send(message(event, self.config, self.state, now))
                except (OSError, smtplib.SMTPException) as exc:
                    # the state stays: the next ping or tick tries again
                    print(f"preau-deadman: {event} mail not sent: {exc}", file=sys.stderr)
                    if event == SILENT:
                        return
                print(f"preau-deadman: {event} mail sent", file=sys.stderr)
            if new != self.state:
                self.state = new
                self.state_file.write_text(json.dumps(asdict(new)))

    def _send(self, mail: EmailMessage) -> None:
        if not self.config["mail_to"]:  # e-mail off (monitoring_alert_email_enabled: false)
            print("preau-deadman: no recipient, nothing sent", file=sys.stderr)
            return
        relay = self.config["smtp"]
        with smtplib.SMTP(relay["host"], int(relay["port"]), timeout=30) as smtp:
            if relay.get("starttls"):
                smtp.starttls(context=ssl.create_default_context())
            if relay.get("user"):
                smtp.login(relay["user"], self.password or "")
            smtp.send_message(mail)


def handler(switch: Switch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self.send_error(400, "not JSON")
                return
            if self.path == "/watchdog" and is_watchdog(payload):
                switch.ping()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # one ping a minute: not worth a journal line each

    return Handler


class TLSServer(ThreadingHTTPServer):
    """HTTPS with the host's certificate, read again at each connection (a renewed one is
    served without a restart)."""

    def __init__(self, address: tuple[str, int], handler: Any, cert: str, key: str):
        self.cert, self.key = cert, key
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, peer = super().get_request()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        sock.settimeout(10)
        return context.wrap_socket(sock, server_side=True), peer


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text())
    state_dir = Path(os.environ.get("STATE_DIRECTORY", "/var/lib/preau-deadman"))
    password_file = Path(os.environ.get("PREAU_DEADMAN_PASSWORD_FILE") or "/nonexistent")
    password = password_file.read_text().strip() if password_file.exists() else None
    switch = Switch(config, state_dir / "state.json", password)
    server = TLSServer(
        (config["listen"], int(config["port"])), handler(switch), config["cert"], config["key"]
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(
        f"preau-deadman: listening on {config['listen']}:{config['port']}, delay {config['delay']} s",
        file=sys.stderr,
    )
    while True:
        switch.tick()
        time.sleep(TICK)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
