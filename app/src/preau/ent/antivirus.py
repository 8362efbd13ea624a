"""Antivirus scan of uploads by clamd (ClamAV's daemon, Debian's clamav-daemon), over its socket.

The file is streamed with clamd's INSTREAM command: "zINSTREAM\\0", then chunks, each prefixed
with its length as 4 bytes in network order, then a zero length; clamd answers one line,
"stream: OK", "stream: <threat> FOUND" or "... ERROR". Our own few lines rather than a PyPI
client: the protocol is this small, and the clients on PyPI (clamd, pyclamd) are unmaintained.
[antivirus] clamd_socket is a unix socket path or host:port; empty = no scan.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

from django.conf import settings


class Unavailable(Exception):
    """clamd could not give a verdict (not running, timeout, error answer)."""


def enabled() -> bool:
    return bool(settings.PREAU_CLAMD_SOCKET)


def _connect(address: str, timeout: float) -> socket.socket:
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
        return sock
    host, _, port = address.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def _answer(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def scan(chunks: Iterable[bytes]) -> str | None:
    """The threat's name if clamd finds one, else None; Unavailable when there is no verdict."""
    address, timeout = settings.PREAU_CLAMD_SOCKET, settings.PREAU_CLAMD_TIMEOUT_SECONDS
    try:
        with _connect(address, timeout) as sock:
            sock.sendall(b"zINSTREAM\0")
            for chunk in chunks:
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            answer = _answer(sock)
    except (OSError, ValueError) as exc:
        raise Unavailable(f"clamd at {address}: {exc}") from exc
    if answer.endswith(" FOUND"):
        return answer.removeprefix("stream:").removesuffix(" FOUND").strip()
    if answer != "stream: OK":
        raise Unavailable(f"clamd at {address} answered {answer[:200]!r}")
    return None
