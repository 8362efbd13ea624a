"""Client addresses and the address lists of the configuration ([security] trusted_proxies,
monitoring_networks): one reading of both for the throttle and the operational endpoints."""

from __future__ import annotations

import functools
import ipaddress


def parse(value: str | None):
    """The IP address in `value` (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


@functools.lru_cache(maxsize=8)
def _networks(declared: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(value, strict=False) for value in declared)


def within(address, declared: list[str]) -> bool:
    """Whether `address` (from parse(), or None) is in one of the `declared` addresses or
    networks (validated by preau.config)."""
    return address is not None and any(
        address in network
        for network in _networks(tuple(declared))
        if network.version == address.version
    )
