"""TLS inside as the controller reads it: certificate end dates (status, audit), the app's
URL on its own host (release checks, audit) and the status screen's certificate cell."""

import datetime
import subprocess

import pytest

from preau_ops import internal_tls, status

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("notAfter=Dec  4 20:00:00 2027 GMT\n", datetime.datetime(2027, 12, 4, 20, tzinfo=UTC)),
        ("notAfter=Jan 15 08:30:05 2027 GMT", datetime.datetime(2027, 1, 15, 8, 30, 5, tzinfo=UTC)),
        ("", None),  # no certificate: openssl printed nothing
        ("Could not open file or uri for loading certificate", None),
        ("notAfter=soon", None),
    ],
)
def test_not_after(answer, expected):
    assert internal_tls.not_after(answer) == expected


def test_not_after_reads_what_openssl_prints(tmp_path):
    cert = tmp_path / "host.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "30", "-subj", "/CN=app1", "-keyout", str(tmp_path / "k")]
        + ["-out", str(cert)],
        check=True,
        capture_output=True,
    )
    command = internal_tls.ENDDATE_COMMAND.replace(internal_tls.HOST_CERT, str(cert))
    answer = subprocess.run(command, shell=True, capture_output=True, text=True, check=True)
    end = internal_tls.not_after(answer.stdout)
    assert end is not None and 29.9 < internal_tls.days_left(end) <= 30
    missing = command.replace(str(cert), str(tmp_path / "none.crt"))
    assert internal_tls.not_after(subprocess.getoutput(missing)) is None


def test_days_left():
    end = datetime.datetime(2027, 1, 31, tzinfo=UTC)
    assert internal_tls.days_left(end, datetime.datetime(2027, 1, 10, 12, tzinfo=UTC)) == 20.5
    assert internal_tls.days_left(end, datetime.datetime(2027, 2, 1, tzinfo=UTC)) == -1


def test_local_url_checks_the_host_name_at_loopback():
    assert internal_tls.local_url("app1", 8000, "/readyz") == (
        "--cacert /etc/preau/pki/ca.pem --resolve app1:8000:127.0.0.1 https://app1:8000/readyz"
    )
    assert internal_tls.local_url("app1", 8001, "/readyz", tls=False) == (
        "http://127.0.0.1:8001/readyz"
    )


@pytest.mark.parametrize(
    ("days", "cell", "attention"),
    [
        (None, "[red]none[/]", True),
        (364.6, "364 d", False),
        (21.0, "21 d", False),
        (20.9, "[red]20 d left[/]", True),
        (-2, "[red]-2 d left[/]", True),
    ],
)
def test_certificate_cell(days, cell, attention):
    assert status.certificate_cell(days) == (cell, attention)


class FakeSessions:
    """The runner's Sessions faked at its boundary: answers by command, records them."""

    def __init__(self, unit_has_tls: bool):
        self.unit_has_tls, self.commands = unit_has_tls, []

    def run(self, host, command, check=True):
        from preau_ops.runner import Result

        self.commands.append(command)
        if command.startswith("grep -qs -- --certfile"):
            return Result(host.name, command, 0, "tls\n" if self.unit_has_tls else "", "")
        return Result(host.name, command, 0, "200", "")


@pytest.mark.parametrize(
    ("unit_has_tls", "tls", "expected"),
    [
        (True, None, "https://app1:8000/"),  # the unit serves TLS: asked over TLS
        (False, None, "http://127.0.0.1:8000/"),  # released before the converge
        (True, False, "http://127.0.0.1:8000/"),  # the canary: plain, as told
    ],
)
def test_release_check_asks_the_app_as_its_unit_serves_it(unit_has_tls, tls, expected):
    from preau_ops.inventory import Host
    from preau_ops.release import host as release_host

    sessions = FakeSessions(unit_has_tls)
    app1 = Host("app1", ["app"], {"ansible_host": "10.0.2.21"})
    assert release_host.check(sessions, app1, 8000, "ent.example.fr", tls=tls) is None
    asked = [c for c in sessions.commands if "curl" in c]
    assert asked and all(expected in c for c in asked), asked
