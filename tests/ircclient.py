"""A small IRC test client over a real trio socket, built on our sans-IO protocol package."""

from __future__ import annotations

from collections.abc import Callable

import trio

from multichat_trio.protocol import LineFramer, LineTooLong, Message, parse

TIMEOUT = 10


class IrcClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._framer = LineFramer(max_line=1 << 20)
        self._pending: list[Message] = []
        self.nick = "*"
        #: Seconds (of trio's clock) a read may take before the test fails; raise it under a MockClock.
        self.timeout: float = TIMEOUT

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> IrcClient:
        return cls(await trio.open_tcp_stream(host, port))

    async def send(self, *lines: str | bytes) -> None:
        data = b"".join((line.encode() if isinstance(line, str) else line) + b"\r\n" for line in lines)
        await self.stream.send_all(data)

    async def recv(self) -> Message:
        """The next message; fails the test after TIMEOUT seconds; raises EOFError at end of stream."""
        with trio.fail_after(self.timeout):
            while not self._pending:
                data = await self.stream.receive_some(65536)
                if not data:
                    raise EOFError("server closed the connection")
                for line in self._framer.feed(data):
                    assert not isinstance(line, LineTooLong)
                    self._pending.append(parse(line.decode()))
            return self._pending.pop(0)

    async def expect(self, command: str, where: Callable[[Message], bool] = lambda m: True) -> Message:
        """Read until a `command` message satisfying `where`; returns it (skipped ones are lost)."""
        while True:
            message = await self.recv()
            if message.command == command and where(message):
                return message

    async def collect_until(self, command: str) -> list[Message]:
        """Every message up to and including the first `command`."""
        seen = []
        while True:
            seen.append(await self.recv())
            if seen[-1].command == command:
                return seen

    async def sync(self) -> list[Message]:
        """Round-trip a PING: returns everything the server sent before its PONG."""
        await self.send("PING :sync")
        seen = await self.collect_until("PONG")
        return seen[:-1]

    async def register(self, nick: str, *, caps: str = "", user: str = "u") -> list[Message]:
        """Register as `nick`; returns every line up to the end of the welcome burst (the autojoin NAMES)."""
        if caps:
            await self.send(
                "CAP LS 302", f"NICK {nick}", f"USER {user} 0 * :Real {nick}", f"CAP REQ :{caps}", "CAP END"
            )
        else:
            await self.send(f"NICK {nick}", f"USER {user} 0 * :Real {nick}")
        self.nick = nick
        seen = await self.collect_until("001")
        seen += await self.sync()
        return seen

    async def wait_closed(self) -> list[Message]:
        """Every message until the server closes the connection."""
        seen = []
        try:
            while True:
                seen.append(await self.recv())
        except (EOFError, trio.BrokenResourceError):
            return seen

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
