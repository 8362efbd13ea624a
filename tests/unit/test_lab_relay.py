"""The lab's SMTP relay, without Docker: its exim configuration, its TLS files and the
declaration it writes (tests/lab/test_80_mail.py sends real mail through the running one)."""

import io
import ipaddress
import tarfile

import yaml
from cryptography import x509

from preau_ops import inventory
from preau_ops.lab import relay, standin


def test_the_exim_configuration_has_every_placeholder_filled():
    files = relay._make_tls("172.30.83.250")
    config = standin.tar(relay._config(files, "s3cret-Pass_1"), secret=relay._secret)
    with tarfile.open(fileobj=io.BytesIO(config)) as archive:
        conf = archive.extractfile("exim4.conf").read().decode()
        key_mode = archive.getmember("relay.key").mode
    assert "@" not in conf.replace("$auth", "")  # no @NAME@ left
    assert "daemon_smtp_ports = 25 : 587" in conf
    assert "{eq{$auth3}{s3cret-Pass_1}}" in conf and "{eq{$auth2}{preau}}" in conf
    assert "auth_advertise_hosts = ${if def:tls_in_cipher {*}{}}" in conf  # AUTH after TLS only
    assert key_mode == 0o600


def test_the_certificate_names_the_address_clients_dial_and_chains_to_the_ca():
    files = relay._make_tls("172.30.83.250")
    cert = x509.load_pem_x509_certificate(files["relay.crt"])
    ca = x509.load_pem_x509_certificate(files["ca.crt"])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("172.30.83.250") in names.get_values_for_type(x509.IPAddress)
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


def test_the_declaration_is_what_an_inventory_may_say(tmp_path, monkeypatch):
    monkeypatch.setattr(relay, "DECLARATION", tmp_path / "relay.yml")
    relay._write_declaration("172.30.83.250", relay._make_tls("172.30.83.250")["ca.crt"])
    declared = yaml.safe_load((tmp_path / "relay.yml").read_text())
    assert declared["preau_smtp_relay_host"] == "172.30.83.250"
    assert declared["preau_smtp_relay_port"] == 587 and declared["preau_smtp_relay_starttls"]
    assert declared["preau_smtp_relay_ca_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert set(declared) <= inventory.allowed_variables()
