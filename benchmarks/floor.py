"""The floor: the least a Python server can do for the load generator, to tell Python's and trio's share of a figure.

Not an IRC server: it answers `USER` with a 001 and `JOIN` with a 366, relays each `PRIVMSG` to the
others in its channel with one `send` each, answers PING, and checks nothing (no flood control, no
modes, no history, no SendQ: a send the kernel refuses is dropped; only a line of over 8 KiB closes the
connection). `compare.py --servers multichat,ngircd,trio-floor,python-floor --rows light` runs it
beside the real servers: the gap between it and MultiChat is what MultiChat's rules cost, the gap
between it and a C server is the interpreter's. `--plain` serves the same lines from a bare
`selectors` loop instead of trio's, to tell trio's share from the interpreter's.

    python benchmarks/floor.py --port 6667          # 127.0.0.1 only; --port 0: a free one, printed once it listens
    python benchmarks/floor.py --port 6667 --plain  # no trio: one thread on selectors' poll
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket

import trio

HOST = "127.0.0.1"  # the only address it listens on
#: An unfinished line longer than this closes the connection: the floor holds no more of a client.
MAX_PENDING = 8192


class Peer:
    """One connection's state: its nick, its unfinished line and its channels."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.nick, self.rest = sock, b"*", b""
        self.joined: list[bytes] = []


class Floor:
    def __init__(self) -> None:
        self.channels: dict[bytes, list[socket.socket]] = {}

    def feed(self, peer: Peer, data: bytes) -> bool:
        """Serve what `peer` sent; False once its connection is to close."""
        *lines, peer.rest = (peer.rest + data).split(b"\n")
        if len(peer.rest) > MAX_PENDING:
            return False
        for line in lines:
            command, _, args = line.rstrip(b"\r").partition(b" ")
            if command == b"PRIVMSG":
                out = b":" + peer.nick + b"!u@h PRIVMSG " + args + b"\r\n"
                for member in self.channels.get(args.partition(b" ")[0], ()):
                    if member is not peer.sock:
                        with contextlib.suppress(OSError):
                            member.send(out)
            elif command == b"NICK":
                peer.nick = args
            elif command == b"USER":
                _send(peer.sock, b":floor 001 " + peer.nick + b" :hi\r\n")
            elif command == b"JOIN":
                self.channels.setdefault(args, []).append(peer.sock)
                peer.joined.append(args)
                _send(peer.sock, b":floor 366 " + peer.nick + b" " + args + b" :End\r\n")
            elif command == b"PING":
                _send(peer.sock, b"PONG " + args + b"\r\n")
            elif command == b"QUIT":
                return False
        return True

    def close(self, peer: Peer) -> None:
        for channel in peer.joined:
            self.channels[channel].remove(peer.sock)
        peer.sock.close()

    async def serve(self, sock: socket.socket) -> None:
        peer = Peer(sock)
        try:
            while (data := await _receive(sock)) and self.feed(peer, data):
                pass
        finally:
            self.close(peer)


def _recv(sock: socket.socket) -> bytes | None:
    """What the socket holds now (b"": closed or failed), or None: nothing yet."""
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


async def _receive(sock: socket.socket) -> bytes:
    while (data := _recv(sock)) is None:
        await trio.lowlevel.wait_readable(sock)
    return data


def _send(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.send(data)


def _listener(port: int) -> socket.socket:
    listener = socket.create_server((HOST, port), backlog=4096)
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)
    return listener


async def main(port: int) -> None:
    floor, listener = Floor(), _listener(port)
    async with trio.open_nursery() as nursery:
        while True:
            await trio.lowlevel.wait_readable(listener)
            with contextlib.suppress(BlockingIOError):
                sock, _ = listener.accept()
                nursery.start_soon(floor.serve, sock)


def plain(port: int) -> None:
    """The same floor without trio: every socket in one `selectors` poll, served in one thread."""
    floor, listener = Floor(), _listener(port)
    poll = selectors.DefaultSelector()
    poll.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in poll.select():
            if key.fileobj is listener:
                with contextlib.suppress(BlockingIOError):
                    poll.register((sock := listener.accept()[0]), selectors.EVENT_READ, Peer(sock))
                continue
            peer: Peer = key.data
            if (data := _recv(peer.sock)) is None:
                continue
            if not (data and floor.feed(peer, data)):
                poll.unregister(peer.sock)
                floor.close(peer)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plain", action="store_true", help="a bare selectors loop instead of trio")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        plain(args.port) if args.plain else trio.run(main, args.port)
