"""The floor: the least a trio server can do for the load generator, to tell Python's and trio's share of a figure.

Not an IRC server: it answers `USER` with a 001 and `JOIN` with a 366, relays each `PRIVMSG` to the
others in its channel with one `send` each, answers PING, and checks nothing (no flood control, no
modes, no history, no SendQ: a send the kernel refuses is dropped; only a line of over 8 KiB closes the
connection). `compare.py --servers multichat,ngircd,trio-floor --rows light` runs it beside the real
servers: the gap between it and MultiChat is what MultiChat's rules cost, the gap between it and a C
server is the interpreter's.

    python benchmarks/floor.py --port 6667          # 127.0.0.1 only; --port 0: a free one, printed once it listens
"""

from __future__ import annotations

import argparse
import contextlib
import socket

import trio

HOST = "127.0.0.1"  # the only address it listens on
#: An unfinished line longer than this closes the connection: the floor holds no more of a client.
MAX_PENDING = 8192


class Floor:
    def __init__(self) -> None:
        self.channels: dict[bytes, list[socket.socket]] = {}

    async def serve(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        nick, rest = b"*", b""
        joined: list[bytes] = []
        try:
            while data := await _receive(sock):
                *lines, rest = (rest + data).split(b"\n")
                if len(rest) > MAX_PENDING:
                    return
                for line in lines:
                    command, _, args = line.rstrip(b"\r").partition(b" ")
                    if command == b"PRIVMSG":
                        out = b":" + nick + b"!u@h PRIVMSG " + args + b"\r\n"
                        for member in self.channels.get(args.partition(b" ")[0], ()):
                            if member is not sock:
                                with contextlib.suppress(OSError):
                                    member.send(out)
                    elif command == b"NICK":
                        nick = args
                    elif command == b"USER":
                        _send(sock, b":floor 001 " + nick + b" :hi\r\n")
                    elif command == b"JOIN":
                        self.channels.setdefault(args, []).append(sock)
                        joined.append(args)
                        _send(sock, b":floor 366 " + nick + b" " + args + b" :End\r\n")
                    elif command == b"PING":
                        _send(sock, b"PONG " + args + b"\r\n")
                    elif command == b"QUIT":
                        return
        finally:
            for channel in joined:
                self.channels[channel].remove(sock)
            sock.close()


async def _receive(sock: socket.socket) -> bytes:
    while True:
        try:
            return sock.recv(65536)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)
        except OSError:
            return b""


def _send(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.send(data)


async def main(port: int) -> None:
    floor = Floor()
    listener = socket.create_server((HOST, port), backlog=4096)
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)
    async with trio.open_nursery() as nursery:
        while True:
            await trio.lowlevel.wait_readable(listener)
            with contextlib.suppress(BlockingIOError):
                sock, _ = listener.accept()
                nursery.start_soon(floor.serve, sock)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main, parser.parse_args().port)
