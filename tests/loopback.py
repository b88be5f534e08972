"""Loopback helpers shared by the tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on (free when the probe closes): an unreachable endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
