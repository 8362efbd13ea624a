"""What the lab's stand-ins for outside parties share (the département's SMTP relay: relay.py;
federation's partners: partners.py): a container of their own from the bare host image plus a
few Debian packages, files copied in, and TLS from a CA of their own, as outside parties have.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import ipaddress
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import OpsError
from . import image

# One image for every stand-in (built once, at `lab up` with the relay): what each needs.
TAG = "standin"
PACKAGES = [
    "exim4-daemon-light",  # the SMTP relay (relay.py)
    # federation's partners (partners.py): pysaml2 7.0.1 and xmlsec1 for the IdPs and the
    # GAR; python-cas's needs for the CAS resource (python-cas itself is copied in)
    "python3-pysaml2", "xmlsec1", "python3-requests", "python3-lxml", "python3-six",
]  # fmt: skip


def docker(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise OpsError(f"docker {args[0]} failed: {result.stderr.strip()[-1500:]}")
    return result


def running(container: str) -> bool:
    state = docker("inspect", "-f", "{{.State.Running}}", container, check=False)
    return state.stdout.strip() == "true"


def _image_hash(packages: list[str]) -> str:
    bare = docker("image", "inspect", "-f", "{{.Id}}", f"{image.REPOSITORY}:bare").stdout
    return hashlib.sha256((bare.strip() + " ".join(packages)).encode()).hexdigest()[:16]


def build_image(tag: str = TAG, packages: list[str] = PACKAGES) -> bool:
    """preau-lab:TAG = bare + packages (the stand-ins' image by default), cached by the bare
    image and the package list; True when it was built."""
    wanted = _image_hash(packages)
    tagged = docker(
        "image",
        "inspect",
        "-f",
        f'{{{{index .Config.Labels "{image.HASH_LABEL}"}}}}',
        f"{image.REPOSITORY}:{tag}",
        check=False,
    ).stdout.strip()
    if tagged == wanted:
        return False
    name = f"preau-lab-{tag}-build"
    hosts = [f"--add-host={n}:{ip}" for n, ip in image.resolve_mirrors().items()]
    script = (
        "set -e; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends " + " ".join(packages) + "; apt-get clean; "
        "rm -rf /var/lib/apt/lists/*"
    )
    docker("rm", "-f", name, check=False)
    try:
        docker(
            "run", "--name", name, "--dns", "127.0.0.1", *hosts, f"{image.REPOSITORY}:bare",
            "bash", "-c", script,
        )  # fmt: skip
        docker(
            "commit",
            "-c",
            f"LABEL {image.HASH_LABEL}={wanted}",
            "-c",
            'ENTRYPOINT ["sh", "-c"]',
            name,
            f"{image.REPOSITORY}:{tag}",
        )
    finally:
        docker("rm", "-f", name, check=False)
    return True


def create(
    container: str,
    *,
    hostname: str,
    label: str,
    network: str,
    address: str,
    command: str,
    extra: tuple[str, ...] = (),
    tag: str = TAG,
) -> None:
    """A stand-in's container (created, not started: its files go in first), replacing one
    of that name: on `network` at `address`, no DNS (names it needs: `extra`'s --add-host),
    an init reaping its processes, `command` run by sh."""
    docker("rm", "-f", container, check=False)
    docker(
        "create", "--name", container, "--hostname", hostname, "--label", label,
        "--network", network, "--ip", address, "--dns", "127.0.0.1", *extra, "--init",
        f"{image.REPOSITORY}:{tag}", command,
    )  # fmt: skip


def tar(files: dict[str, bytes], secret: Callable[[str], bool] = lambda name: False) -> bytes:
    """A tar of these files (mode 0600 for the secret ones, 0644 the others)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600 if secret(name) else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def copy_in(
    container: str,
    directory: str,
    files: dict[str, bytes],
    secret: Callable[[str], bool] = lambda name: False,
) -> None:
    """Files into a created container's directory (made if missing)."""
    archive = tar({f"{directory.strip('/')}/{name}": data for name, data in files.items()}, secret)
    copied = subprocess.run(
        ["docker", "cp", "-", f"{container}:/"],
        input=archive,
        capture_output=True,
        check=False,
    )
    if copied.returncode != 0:
        raise OpsError(f"docker cp ({container}) failed: {copied.stderr.decode()[-800:]}")


def make_tls(address: str, dns_name: str, ca_name: str, name: str = "server") -> dict[str, bytes]:
    """A CA and a server certificate naming `address` (IP SAN: clients check the name they
    dial) and `dns_name`, EC keys; PEM: ca.crt, NAME.crt, NAME.key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key: Any, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.IPAddress(ipaddress.ip_address(address)), x509.DNSName(dns_name)]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate(ca_name, ca_key, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(dns_name, key, ca_key, False)
    pem = serialization.Encoding.PEM
    return {
        "ca.crt": ca_cert.public_bytes(pem),
        f"{name}.crt": cert.public_bytes(pem),
        f"{name}.key": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }


def tls_files(
    directory: Path, address: str, dns_name: str, ca_name: str, name: str = "server"
) -> dict[str, bytes]:
    """make_tls's files, made once and kept in `directory` (0600); remade if the address
    changed."""
    directory.mkdir(parents=True, exist_ok=True)
    names = ("ca.crt", f"{name}.crt", f"{name}.key", "address")
    if all((directory / n).exists() for n in names) and (
        (directory / "address").read_text() == address
    ):
        return {n: (directory / n).read_bytes() for n in names}
    files = {**make_tls(address, dns_name, ca_name, name), "address": address.encode()}
    for file, content in files.items():
        (directory / file).write_bytes(content)
        (directory / file).chmod(0o600)
    return files
