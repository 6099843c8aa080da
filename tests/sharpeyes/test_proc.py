"""sharpeyes/proc.py: the ports the hub and the tests give their servers."""

from __future__ import annotations

import socket

from sharpeyes.proc import _ephemeral_low, free_port


def test_free_port_is_bindable_and_below_the_ephemeral_range() -> None:
    """A port the kernel would not hand an outgoing connection as its source port in the meantime."""
    low = _ephemeral_low()
    ports = {free_port() for _ in range(20)}
    assert len(ports) > 1  # chosen at random, not one fixed port
    for port in ports:
        assert 1024 < port < low
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
