"""The lab's host images, built offline-first from Debian's own tools (no registry here).

`preau-lab:bare`  : Debian 12 minbase + systemd, sshd, python3, sudo; as a hosting provider
                    hands a server over: root's SSH key only (the lab key), no admin account,
                    no sudo rule (`deploy.py bootstrap` makes them, as on real servers).
`preau-lab:baked` : bare + the heavy packages of baked-packages.txt, installed with service
                    starts blocked, so converging a lab host skips 20-30 s of dpkg work.
`preau-lab:trixie-bare` : the bare image on Debian 13, for the molecule platforms that prove a
                    role on the next release (issue #27: new installations on Debian 13).
Each image carries a label with the hash of what it was built from; a build is skipped while
the hash matches, so `lab up` reuses the cache and rebuilds only after a change.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import system
from ..console import Progress
from ..errors import OpsError

if TYPE_CHECKING:
    from docker import DockerClient

REPOSITORY = "preau-lab"
HERE = Path(__file__).resolve().parent
BAKED_LIST = HERE / "baked-packages.txt"
HASH_LABEL = "org.preau.build-hash"
MIRROR_HOSTS = ("deb.debian.org",)
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")

BARE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "sudo",
    "iproute2",
    "ca-certificates",
    "procps",
    "curl",
    "less",
]
# The Debian release of the lab's hosts, and the next one the roles are proven on.
SUITE = "bookworm"
SUITES = (SUITE, "trixie")


def apt_sources(suite: str = SUITE) -> str:
    """A host's sources.list: the release, its updates and its security suite."""
    return (
        f"deb http://deb.debian.org/debian {suite} main\n"
        f"deb http://deb.debian.org/debian {suite}-updates main\n"
        f"deb http://deb.debian.org/debian-security {suite}-security main\n"
    )


def bare_tag(suite: str = SUITE) -> str:
    """The bare image's tag for a release: `bare` for the lab's own, `trixie-bare` otherwise."""
    if suite not in SUITES:
        raise OpsError(f"no lab image for Debian {suite!r}", f"known releases: {', '.join(SUITES)}")
    return "bare" if suite == SUITE else f"{suite}-bare"


# Units that fail or only waste time inside a container.
MASKED_UNITS = [
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "getty@tty1.service",
    "console-getty.service",
    "systemd-pstore.service",
    "systemd-firstboot.service",
    "dpkg-db-backup.timer",
    "getty.target",
]
# Host keys are made at first boot so that two hosts never share one.
HOST_KEYS_UNIT = """\
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


def resolve_mirrors() -> dict[str, str]:
    """Resolve the package mirror names on the controller (hosts get them as /etc/hosts)."""
    resolved: dict[str, str] = {}
    for name in MIRROR_HOSTS:
        try:
            resolved[name] = socket.gethostbyname(name)
        except OSError as exc:
            raise OpsError(
                f"cannot resolve the Debian mirror {name}: {exc}",
                "the lab hosts install packages from it; check this machine's DNS",
            ) from exc
    return resolved


def _source_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def baked_packages() -> list[str]:
    lines = BAKED_LIST.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _image_hash(client: DockerClient, tag: str) -> str | None:
    import docker.errors

    try:
        image = client.images.get(f"{REPOSITORY}:{tag}")
    except docker.errors.ImageNotFound:
        return None
    label: str | None = (image.labels or {}).get(HASH_LABEL)
    return label


def _run(cmd: list[str], what: str, **kwargs: Any) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise OpsError(f"{what} failed (exit {result.returncode}):\n{tail}")


def _root_key() -> str:
    """The lab key's public half (made on first need), root's only key in the bare image."""
    from . import hosts

    return hosts.ensure_key()


def _customize_rootfs(root: Path, root_key: str, sources: str) -> None:
    (root / "etc/machine-id").write_text("")
    (root / "etc/apt/sources.list").write_text(sources)
    (root / "etc/hostname").write_text("localhost\n")
    systemd_dir = root / "etc/systemd/system"
    for unit in MASKED_UNITS:
        link = systemd_dir / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (systemd_dir / "ssh-host-keys.service").write_text(HOST_KEYS_UNIT)
    wants = systemd_dir / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    (wants / "ssh-host-keys.service").unlink(missing_ok=True)
    (wants / "ssh-host-keys.service").symlink_to("/etc/systemd/system/ssh-host-keys.service")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # This machine's HTTPS goes through a proxy with its own CA: trust it inside the hosts too
    # (copied at build time, never committed).
    if EXTRA_CA_DIR.is_dir():
        target = root / "usr/local/share/ca-certificates"
        target.mkdir(parents=True, exist_ok=True)
        for cert in EXTRA_CA_DIR.glob("*.crt"):
            shutil.copy(cert, target / cert.name)
    chroot = ["chroot", str(root)]
    _run(chroot + ["update-ca-certificates"], "update-ca-certificates in the image")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(root_key + "\n")
    (ssh_dir / "authorized_keys").chmod(0o600)


def build_bare(
    client: DockerClient,
    progress: Progress | None = None,
    force: bool = False,
    suite: str = SUITE,
) -> bool:
    """Build the bare image of a Debian release (preau-lab:bare for the lab's own) with
    mmdebstrap; returns True when an image was built."""
    tag = bare_tag(suite)
    sources = apt_sources(suite)
    root_key = _root_key()
    wanted = _source_hash(" ".join(BARE_PACKAGES), sources, root_key)
    if not force and _image_hash(client, tag) == wanted:
        return False
    system.ensure(system.LAB, "building the lab image", progress)
    with tempfile.TemporaryDirectory(prefix="preau-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        if progress:
            progress.update(f"mmdebstrap {suite} (about a minute)")
        # Every suite of the sources, so the image starts with the security updates applied.
        _run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--include=" + ",".join(BARE_PACKAGES),
                "--aptopt=Acquire::Retries=3",
                suite,
                str(root),
                *sources.strip().splitlines(),
            ],
            "mmdebstrap",
        )
        _customize_rootfs(root, root_key, sources)
        _run(["chroot", str(root), "apt-get", "clean"], "apt-get clean")
        if progress:
            progress.update("importing into docker")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        _run(
            [
                "docker",
                "import",
                "-c",
                'CMD ["/lib/systemd/systemd"]',
                "-c",
                "ENV container=docker",
                "-c",
                f"LABEL {HASH_LABEL}={wanted}",
                "-",
                f"{REPOSITORY}:{tag}",
            ],
            "docker import",
            stdin=tar.stdout,
        )
        tar.wait()
    return True


def build_baked(
    client: DockerClient, progress: Progress | None = None, force: bool = False
) -> bool:
    """Build preau-lab:baked = bare + baked packages; returns True when an image was built."""
    packages = baked_packages()
    bare_hash = _image_hash(client, "bare") or ""
    wanted = _source_hash(bare_hash, " ".join(packages))
    if not force and _image_hash(client, "baked") == wanted:
        return False
    if progress:
        progress.update(f"installing {len(packages)} packages")
    hosts = [f"--add-host={name}:{ip}" for name, ip in resolve_mirrors().items()]
    name = "preau-lab-bake"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    # policy-rc.d 101 = "action forbidden": packages install without starting services.
    script = (
        "set -e; printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; "
        "chmod 755 /usr/sbin/policy-rc.d; apt-get update -qq; "
        "find /etc/systemd/system -type l | sort > /tmp/links.before; "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        + " ".join(packages)
        # Services stay disabled as the packages were only pre-loaded: the roles decide
        # what runs (and a host that has not been converged boots clean, not degraded).
        + "; find /etc/systemd/system -type l | sort > /tmp/links.after; "
        "comm -13 /tmp/links.before /tmp/links.after | grep '\\.wants/' | xargs -r rm -f; "
        "rm -f /usr/sbin/policy-rc.d /tmp/links.*; apt-get clean; rm -rf /var/lib/apt/lists/*"
    )
    try:
        _run(
            [
                "docker",
                "run",
                "--name",
                name,
                "--dns",
                "127.0.0.1",
                *hosts,
                f"{REPOSITORY}:bare",
                "bash",
                "-c",
                script,
            ],
            "installing the baked packages",
        )
        _run(
            [
                "docker",
                "commit",
                "-c",
                'CMD ["/lib/systemd/systemd"]',
                "-c",
                f"LABEL {HASH_LABEL}={wanted}",
                name,
                f"{REPOSITORY}:baked",
            ],
            "docker commit",
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return True
