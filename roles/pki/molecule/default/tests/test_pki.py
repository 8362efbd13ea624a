"""The host's PKI files as the role leaves them, after a certificate near its end was renewed."""

import datetime

import pytest

PKI = "/etc/preau/pki"


@pytest.fixture(scope="module")
def cert(host):
    with host.sudo():
        return host.check_output(
            f"openssl x509 -in {PKI}/host.crt -noout -subject -enddate -serial -ext subjectAltName"
        )


def test_files_modes_and_owners(host):
    key = host.file(f"{PKI}/host.key")
    assert (key.user, key.group, key.mode) == ("root", "preau-tls", 0o640)
    for name in ("ca.pem", "host.crt"):
        assert (host.file(f"{PKI}/{name}").mode) == 0o644


def test_certificate_verifies_against_the_bundle_and_matches_the_key(host):
    with host.sudo():
        assert host.run(f"openssl verify -CAfile {PKI}/ca.pem {PKI}/host.crt").rc == 0
        pub_cert = host.check_output(f"openssl x509 -in {PKI}/host.crt -noout -pubkey")
        pub_key = host.check_output(f"openssl pkey -in {PKI}/host.key -pubout")
    assert pub_cert == pub_key


def test_names_are_inventory_name_address_and_extras(cert):
    assert "CN = pki-db" in cert
    for name in ("DNS:pki-db", "IP Address:172.30.95.10", "DNS:db.preau.test"):
        assert name in cert


def test_the_certificate_near_its_end_was_renewed(host, cert):
    with host.sudo():
        short = host.check_output("openssl x509 -in /root/short-cert.pem -noout -serial")
    assert short not in cert
    end = next(line for line in cert.splitlines() if line.startswith("notAfter="))
    not_after = datetime.datetime.strptime(end[9:], "%b %d %H:%M:%S %Y %Z")
    assert (not_after - datetime.datetime.now()).days > 300
