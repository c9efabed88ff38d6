"""WHOWAS: who recently held a nickname, kept in memory and bounded (plain Python).

An entry is added when a registered user leaves or changes nick. Only the newest `size` entries
are kept (ergo keeps 100 too), so the list costs at most that many small records, whatever the
traffic; nothing of it is stored, and a restart forgets it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..protocol import casefold

#: Entries kept, for every nickname together.
WHOWAS_SIZE = 100


@dataclass(frozen=True, slots=True)
class Was:
    nick: str
    user: str
    host: str
    realname: str
    #: Unix time the nickname was given up.
    when: float


class Whowas:
    def __init__(self, size: int = WHOWAS_SIZE) -> None:
        self._entries: deque[Was] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Was) -> None:
        self._entries.append(entry)

    def find(self, nick: str, count: int = 0) -> list[Was]:
        """The entries for `nick` (casefolded), newest first; at most `count` of them if it is positive."""
        key = casefold(nick)
        found = [entry for entry in reversed(self._entries) if casefold(entry.nick) == key]
        return found[:count] if count > 0 else found
