"""The one loopback address every harness process binds and every client dials, and a free port on it."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"  # loopback only: nothing the harness starts is reachable from another machine


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; a racing process could still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False
