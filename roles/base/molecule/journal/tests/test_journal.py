"""Journals kept off the host: journal-app uploads to journal-ops over HTTPS (internal PKI)."""

import time
import uuid

OPS_IP = "172.30.97.10"
URL = f"https://{OPS_IP}:19532/upload"
REMOTE = "/var/log/journal/remote"


def received(ops, tag):
    """The lines tagged `tag` that journal-app's journal brought to the ops host."""
    return ops.run(
        "journalctl --directory=%s -t %s _HOSTNAME=journal-app -o cat", REMOTE, tag
    ).stdout


def test_a_line_logged_on_the_app_host_reaches_the_ops_hosts_remote_journal(ops, app):
    assert app.service("systemd-journal-upload").is_running
    tag, line = "preau-journal-test", f"journal test {uuid.uuid4()}"
    app.run_test("logger -t %s %s", tag, line)
    deadline = time.monotonic() + 30
    while line not in received(ops, tag) and time.monotonic() < deadline:
        time.sleep(1)
    assert line in received(ops, tag)


def test_the_receiver_listens_on_the_private_address_only(ops):
    listening = ops.check_output("ss -tlnH sport = :19532")
    assert f"{OPS_IP}:19532" in listening and "*:19532" not in listening
    assert "0.0.0.0:19532" not in listening
    # journal-remote itself: plain HTTP on loopback, behind stunnel
    assert "127.0.0.1:19531" in ops.check_output("ss -tlnH sport = :19531")
    assert ops.service("stunnel@preau-journal").is_running
    # its socket is stunnel4's from the start (no root process listening on the network)
    assert ops.check_output("systemctl show -p User --value stunnel@preau-journal") == "stunnel4"
    assert "uid:" in ops.check_output("ss -tlnHe sport = :19532")
    assert ops.service("preau-journal-vacuum.timer").is_enabled


def upload(app, *client):
    """curl's exit status posting one exported entry to the receiver (server checked by the CA)."""
    command = (
        "journalctl -n 1 -o export | curl -sS --fail --max-time 10 --cacert /etc/preau/pki/ca.pem "
        "-H 'Content-Type: application/vnd.fdo.journal' --data-binary @- "
        + " ".join(client)
        + f" {URL}"
    )
    return app.run(command)


def test_only_clients_with_a_certificate_of_the_platforms_ca_may_upload(app):
    assert upload(app, "--cert /etc/preau/pki/host.crt --key /etc/preau/pki/host.key").rc == 0
    assert upload(app).rc != 0  # no client certificate
    app.run_test(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        "-subj /CN=journal-app -keyout /tmp/other.key -out /tmp/other.crt"
    )
    assert upload(app, "--cert /tmp/other.crt --key /tmp/other.key").rc != 0  # another CA
