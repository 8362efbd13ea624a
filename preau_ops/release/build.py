"""Building a release on the controller: its version and its wheelhouse.

The wheelhouse (the app's wheel + every pinned dependency, one tarball) is built once per
version, so app hosts need no package index. The dependencies' wheels are built once per
lock file (wheelhouse/deps-<its hash>/): a new version of the app alone (most releases) only
builds the app's wheel.

One wheelhouse serves every supported app host: Debian 12's run Python 3.11, Debian 13's 3.13,
and six of the app's dependencies (psycopg's, Pillow's, cffi's...) have compiled wheels made
for one Python version only. The controller builds the wheels of its own Python and downloads
those of the others, checked against the same lock's hashes (pip download --only-binary, for
that Python and its Debian's glibc); on a host, pip picks the wheels of its python3. So a move
of app hosts from Debian 12 to 13 ships the same release to both.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ..errors import OpsError
from ..paths import ROOT

APP_DIR = ROOT / "app"
# The app hosts' Pythons (Debian's python3) and the glibc minor of the same Debian release:
# Debian 12 has Python 3.11 and glibc 2.36, Debian 13 Python 3.13 and glibc 2.41.
HOST_PYTHONS = {"3.11": 36, "3.13": 41}
# In the names of what is built for them (a cache made for other Pythons is not reused).
PYTHONS_TAG = "".join(f"-py{python}" for python in sorted(HOST_PYTHONS))
# Not part of a release: what only tests, caches and builds hold.
SKIPPED_PARTS = {"tests", "__pycache__", ".cache", "build"}


def _shipped(rel: Path) -> bool:
    return not (SKIPPED_PARTS & set(rel.parts) or rel.suffix == ".pyc" or ".egg-info" in str(rel))


def source_version(source: Path = APP_DIR) -> str:
    """`<pyproject version>+<hash of the app's files>`: same source, same version."""
    import tomllib

    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source)
        if _shipped(rel):
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return f"{project['version']}+{digest.hexdigest()[:10]}"


def build_wheelhouse(version: str, source: Path = APP_DIR) -> Path:
    """Wheel of the app + every pinned dependency, as one tarball; cached per version."""
    out = ROOT / "wheelhouse"
    tarball = out / f"preau-{version}{PYTHONS_TAG}.tar"
    if tarball.exists():
        return tarball
    out.mkdir(exist_ok=True)
    deps = _dependency_wheels(source, out)
    with tempfile.TemporaryDirectory(prefix="preau-wheels-") as tmp:
        wheels = Path(tmp) / "wheelhouse"
        shutil.copytree(deps, wheels)
        _pip(["wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)], tmp)
        (wheels / "requirements.lock").write_bytes((source / "requirements.lock").read_bytes())
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(wheels, arcname="wheelhouse")
        partial.rename(tarball)
    return tarball


def dependencies_id(source: Path = APP_DIR) -> str:
    """The id of the app's pinned dependencies: the start of its lock file's SHA-256 (the
    wheels' directory here; on the app hosts, with the host's Python, the dependencies' venv:
    `<id>-py3.11`)."""
    return hashlib.sha256((source / "requirements.lock").read_bytes()).hexdigest()[:16]


def controller_python() -> str:
    """This controller's Python, X.Y: the one whose wheels pip builds here."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _download_options(python: str) -> list[str]:
    """pip download's options for the compiled wheels of app hosts running `python`."""
    glibc = HOST_PYTHONS[python]
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(5, glibc + 1)]
    platforms += ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]
    return [
        "--only-binary=:all:",
        "--implementation=cp",
        f"--python-version={python}",
        f"--abi=cp{python.replace('.', '')}",
        *(f"--platform={platform}" for platform in platforms),
    ]


def _dependency_wheels(source: Path, out: Path) -> Path:
    """The wheels of every pinned dependency of the app's lock file, checked against its
    hashes, made once: wheelhouse/deps-<its id>-py3.11-py3.13/ (made aside, then renamed).
    Built for this controller's Python, downloaded for the app hosts' others (HOST_PYTHONS)."""
    lock = source / "requirements.lock"
    deps = out / f"deps-{dependencies_id(source)}{PYTHONS_TAG}"
    if deps.is_dir():
        return deps
    with tempfile.TemporaryDirectory(prefix="preau-deps-", dir=out) as tmp:
        made = Path(tmp) / "wheels"
        _pip(["wheel", "--require-hashes", "-r", str(lock), "-w", str(made)], tmp)
        for python in sorted(set(HOST_PYTHONS) - {controller_python()}):
            options = _download_options(python)
            _pip(["download", "--require-hashes", "-r", str(lock), "-d", str(made), *options], tmp)
        try:
            made.rename(deps)
        except OSError:
            if not deps.is_dir():  # not another build's, finished first
                raise
    return deps


def _pip(command: list[str], cwd: str) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    result = subprocess.run([*pip, *command], capture_output=True, text=True, cwd=cwd, check=False)
    if result.returncode != 0:
        raise OpsError("building the wheelhouse failed:\n" + result.stderr[-2000:])
