"""The release's wheelhouse: the dependencies' wheels built once per lock file, the app's wheel
per version; a tarball per version (pip faked: it writes a wheel per requirement line)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from preau_ops.release import build


@pytest.fixture
def pip_calls(tmp_path, monkeypatch):
    calls: list[list[str]] = []

    def fake_pip(command: list[str], cwd: str) -> None:
        calls.append(command)
        target = Path(command[command.index("-w" if "-w" in command else "-d") + 1])
        target.mkdir(parents=True, exist_ok=True)
        tag = "py3-none-any"
        if "download" in command:  # another Python's wheels: a compiled one for psycopg
            python = next(c for c in command if c.startswith("--python-version=")).split("=")[1]
            tag = f"cp{python.replace('.', '')}-cp{python.replace('.', '')}-manylinux_2_17_x86_64"
        if "-r" in command:
            for line in Path(command[command.index("-r") + 1]).read_text().splitlines():
                name = line.split("==")[0]
                (
                    target / f"{name}-1-{tag if name == 'psycopg' else 'py3-none-any'}.whl"
                ).write_text(line)
        else:
            (target / "preau-0.1.0-py3-none-any.whl").write_text(Path(command[-3]).name)

    monkeypatch.setattr(build, "_pip", fake_pip)
    monkeypatch.setattr(build, "ROOT", tmp_path)
    return calls


def app(tmp_path: Path, lock: str) -> Path:
    source = tmp_path / "app"
    source.mkdir(exist_ok=True)
    (source / "requirements.lock").write_text(lock)
    return source


def members(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return sorted(
            Path(name).name for name in tar.getnames() if name.endswith((".whl", ".lock"))
        )


def test_dependencies_are_built_once_per_lock_and_the_app_per_version(tmp_path, pip_calls):
    source = app(tmp_path, "django==5.2\npsycopg==3.2")
    first = build.build_wheelhouse("0.1.0+a", source)
    second = build.build_wheelhouse("0.1.0+b", source)
    assert members(first) == members(second) == [
        "django-1-py3-none-any.whl", "preau-0.1.0-py3-none-any.whl",
        "psycopg-1-cp313-cp313-manylinux_2_17_x86_64.whl",
        "psycopg-1-py3-none-any.whl", "requirements.lock",
    ]  # fmt: skip
    assert [c[:2] for c in pip_calls] == [
        ["wheel", "--require-hashes"], ["download", "--require-hashes"],
        ["wheel", "--no-deps"], ["wheel", "--no-deps"],
    ]  # fmt: skip
    assert build.build_wheelhouse("0.1.0+b", source) == second and len(pip_calls) == 4
    # a new lock: its dependencies built again, the old ones no longer shipped
    app(tmp_path, "django==5.2.1\npsycopg==3.2")
    third = build.build_wheelhouse("0.1.0+c", source)
    assert len(pip_calls) == 7
    with tarfile.open(third) as tar:
        for name, content in (("requirements.lock", b"django==5.2.1\npsycopg==3.2"),
                              ("django-1-py3-none-any.whl", b"django==5.2.1")):  # fmt: skip
            member = tar.extractfile(f"wheelhouse/{name}")
            assert member is not None and member.read() == content
    assert len(list((tmp_path / "wheelhouse").glob("deps-*"))) == 2


def test_the_wheelhouse_serves_debian_12_and_13_app_hosts(tmp_path, pip_calls):
    """Debian 13's app hosts run Python 3.13, Debian 12's 3.11 (issue #27): a wheelhouse made
    with this controller's Python alone would carry compiled wheels (psycopg's, Pillow's...)
    only that Python installs. The other Python's are downloaded, checked against the same
    lock's hashes, for that Python, its ABI and its Debian's glibc."""
    build.build_wheelhouse("0.1.0+a", app(tmp_path, "psycopg==3.2"))
    downloads = [c for c in pip_calls if c[0] == "download"]
    assert sorted(set(build.HOST_PYTHONS) - {build.controller_python()}) == ["3.13"]
    assert len(downloads) == 1
    download = downloads[0]
    assert {"--only-binary=:all:", "--python-version=3.13", "--abi=cp313"} <= set(download)
    assert "--platform=manylinux_2_41_x86_64" in download  # Debian 13's glibc
    assert "--platform=manylinux_2_42_x86_64" not in download
    assert [p.name for p in (tmp_path / "wheelhouse").glob("deps-*")] == [
        f"deps-{build.dependencies_id(tmp_path / 'app')}-py3.11-py3.13"
    ]
