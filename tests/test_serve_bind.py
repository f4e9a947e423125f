"""``vautoml serve``'s listening socket: its connections send small writes at once (TCP_NODELAY).

Without it, a response's header and body writes wait on Nagle's algorithm
and the client's delayed ACK: each keep-alive request took about 40 ms more
(benchmarks/serving.py found it).  asyncio would set it only on sockets it
creates itself, so the socket vautoml binds must carry it to what it accepts.
"""

from __future__ import annotations

import socket

from vertical_automl.serving.server import bind


def test_accepted_connections_have_tcp_nodelay() -> None:
    listener = bind("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname()[:2]):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
