"""The internal PKI's controller side: CA pairs, vault edits, the rotation's phases (pure), the
checks after each phase, and the rotation driver resuming after a failure (the converge and
the hosts faked; the real rotation runs on the lab)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from preau_ops import pki
from preau_ops.errors import OpsError


@pytest.fixture(scope="module")
def pairs() -> list[pki.Pair]:
    return [pki.new_ca(f"test{i}") for i in range(2)]


def leaf(ca: pki.Pair, days: int = 365) -> str:
    """A host certificate signed by `ca`, as the role would issue it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_cert = x509.load_pem_x509_certificate(ca[0].encode())
    ca_key = serialization.load_pem_private_key(ca[1].encode(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("db")]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_new_ca_may_sign_end_certificates_only(pairs):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pairs[0][0].encode())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= pki.CA_DAYS
    assert "PRIVATE KEY" in pairs[0][1]


def test_describe_tells_which_ca_issued_a_certificate(pairs):
    cert = leaf(pairs[0], days=10)
    assert pki.describe(cert, pairs[0][0]).issued_by_ca
    assert not pki.describe(cert, pairs[1][0]).issued_by_ca
    info = pki.describe(cert)
    assert info.names == ("db",) and info.days_left() in (9, 10)


def test_set_keys_replaces_adds_removes_and_keeps_comments():
    text = "# secrets\nvault_a: one\n# the CA\nvault_pki_ca_cert: |\n  old\n  pem\nvault_z:\n- x\n"
    out = pki.set_keys(text, {"vault_pki_ca_cert": "new\npem\n", "vault_z": None, "vault_b": [1]})
    assert yaml.safe_load(out) == {
        "vault_a": "one",
        "vault_pki_ca_cert": "new\npem\n",
        "vault_b": [1],
    }
    assert out.startswith("# secrets\nvault_a: one\n# the CA\n")
    assert pki.set_keys("", {"k": "v"}) == "k: v\n"


def test_init_refuses_a_real_ca_and_replaces_a_placeholder(pairs):
    with pytest.raises(OpsError, match="already holds a CA"):
        pki.init_updates({pki.CA_CERT: pairs[0][0]}, "x")
    made = pki.init_updates(
        {pki.CA_CERT: "CHANGE-ME-run-deploy.py-pki-init"}, "x", lambda _: pairs[1]
    )
    assert made == {pki.CA_CERT: pairs[1][0], pki.CA_KEY: pairs[1][1]}


def apply(data: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    merged = {**data, **updates}
    return {k: v for k, v in merged.items() if v is not None}


def test_a_rotation_walks_trust_issue_drop_then_ends_with_the_new_ca_alone(pairs):
    old, new = pairs
    data: dict[str, Any] = {pki.CA_CERT: old[0], pki.CA_KEY: old[1]}
    seen = []
    for _ in range(4):
        phase, updates = pki.advance(data, lambda: new)
        data = apply(data, updates)
        seen.append((phase, pki.pending(data), data.get(pki.TRUSTED)))
    assert seen == [
        ("trust", "trust", [new[0]]),  # old still issues, both trusted
        ("issue", "issue", [old[0]]),  # new issues, old still trusted
        ("drop", "drop", None),
        ("done", None, None),
    ]
    assert data == {pki.CA_CERT: new[0], pki.CA_KEY: new[1]}


def test_an_unknown_phase_is_refused_with_the_known_ones():
    with pytest.raises(OpsError, match="unknown phase 'later'"):
        pki.advance({pki.ROTATION: {"phase": "later"}}, lambda: ("", ""))


def hosts(bundle: list[str], cert: str | None, ca: str) -> list[pki.HostPki]:
    info = pki.describe(cert, ca) if cert else None
    return [pki.HostPki("db", info, tuple(pki.pem_blocks("".join(bundle))))]


def test_phase_checks_name_the_host_and_what_it_lacks(pairs):
    old, new = pairs
    trusting = {pki.CA_CERT: old[0], pki.TRUSTED: [new[0]]}
    assert pki.phase_problems(hosts([old[0], new[0]], leaf(old), old[0]), trusting, "trust") == []
    assert pki.phase_problems(hosts([old[0]], leaf(old), old[0]), trusting, "trust") == [
        "db: its trust bundle lacks 1 CA(s)"
    ]
    issuing = {pki.CA_CERT: new[0], pki.TRUSTED: [old[0]]}
    assert pki.phase_problems(hosts([new[0], old[0]], leaf(old), new[0]), issuing, "issue") == [
        "db: its certificate is not the issuing CA's"
    ]
    dropped = {pki.CA_CERT: new[0]}
    assert pki.phase_problems(hosts([new[0]], leaf(new), new[0]), dropped, "drop") == []
    assert pki.phase_problems(hosts([new[0], old[0]], leaf(new), new[0]), dropped, "drop") == [
        "db: its trust bundle still holds another CA"
    ]


class FakeVault(pki.Vault):
    def __init__(self, data: dict[str, Any]):
        super().__init__(Path("/nonexistent"), b"")
        self.data = data

    def read(self) -> dict[str, Any]:
        return dict(self.data)

    def update(self, updates: Any) -> dict[str, Any]:
        self.data = apply(self.data, dict(updates))
        return self.read()


class FakeInventory:
    name = "test"


def test_rotate_stops_at_a_failed_phase_and_resumes_there(pairs, monkeypatch):
    old, new = pairs
    monkeypatch.setattr(pki, "new_ca", lambda label: new)
    vault = FakeVault({pki.CA_CERT: old[0], pki.CA_KEY: old[1]})
    converged: list[str] = []

    def failing_converge(phase: str) -> None:
        converged.append(phase)
        if phase == "issue":
            raise OpsError("db unreachable")

    with pytest.raises(OpsError, match="unreachable"):
        pki.rotate(FakeInventory(), vault, failing_converge, lambda phase, data: None)  # type: ignore[arg-type]
    assert pki.pending(vault.data) == "issue" and vault.data[pki.CA_CERT] == new[0]

    phases = pki.rotate(FakeInventory(), vault, converged.append, lambda phase, data: None)  # type: ignore[arg-type]
    assert phases == ["issue (resumed)", "drop"]
    assert converged == ["trust", "issue", "issue", "drop"]
    assert vault.data == {pki.CA_CERT: new[0], pki.CA_KEY: new[1]}


def test_rotate_refuses_a_vault_without_ca():
    with pytest.raises(OpsError, match="no CA to rotate"):
        pki.rotate(FakeInventory(), FakeVault({}), print, print)  # type: ignore[arg-type]


def test_the_vault_file_round_trips_encrypted(tmp_path, pairs):
    vault = pki.Vault(tmp_path / "vault.yml", b"secret")
    vault.update({"vault_x": "1"})
    assert vault.path.read_bytes().startswith(b"$ANSIBLE_VAULT")
    data = vault.update(pki.init_updates(vault.read(), "t", lambda _: pairs[0]))
    assert data["vault_x"] == "1" and data[pki.CA_CERT] == pairs[0][0]
    assert pki.Vault(vault.path, b"secret").read() == data
    with pytest.raises(OpsError, match="cannot decrypt"):
        pki.Vault(vault.path, b"wrong").read()


def test_set_keys_on_yaml_dumps_multiline_values_leaves_no_stray_line(pairs):
    """The lab's vault is written by yaml.safe_dump: a PEM there is a quoted scalar over
    lines separated by blank ones. Replacing it must take all its lines (a rotation left them
    behind, and the vault did not parse any more)."""
    text = yaml.safe_dump(
        {"vault_a": "x", pki.CA_CERT: pairs[0][0], pki.CA_KEY: pairs[0][1], "vault_z": "y"}
    )
    out = pki.set_keys(text, {pki.CA_CERT: pairs[1][0], pki.CA_KEY: None})
    assert yaml.safe_load(out) == {"vault_a": "x", pki.CA_CERT: pairs[1][0], "vault_z": "y"}


def test_a_vault_update_that_would_not_parse_back_writes_nothing(tmp_path, monkeypatch):
    vault = pki.Vault(tmp_path / "vault.yml", b"secret")
    vault.update({"vault_x": "1"})
    before = vault.path.read_bytes()
    monkeypatch.setattr(pki, "set_keys", lambda text, updates: text + "  stray: [\n")
    with pytest.raises(OpsError, match="nothing written"):
        vault.update({"vault_y": "2"})
    assert vault.path.read_bytes() == before
