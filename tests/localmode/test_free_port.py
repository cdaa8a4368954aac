"""free_port() keeps its port from every other probe until a server binds it the way servers do."""

from __future__ import annotations

import errno
import socket

import pytest

from localmode.aws.processes import free_port


def test_a_plain_bind_cannot_take_a_port_free_port_handed_out():
    port = free_port()

    with socket.socket() as intruder, pytest.raises(OSError) as refused:
        intruder.bind(("127.0.0.1", port))

    assert refused.value.errno == errno.EADDRINUSE


def test_a_server_binding_with_so_reuseaddr_still_gets_it():
    port = free_port()

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(1)
        assert server.getsockname()[1] == port


def test_probes_in_a_row_never_share_a_port():
    ports = [free_port() for _ in range(50)]

    assert len(set(ports)) == len(ports)
