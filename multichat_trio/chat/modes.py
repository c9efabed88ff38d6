"""Channel MODE strings as pure functions: parse `+ob-k alice *!*@h`, apply one change, render the result.

The letters follow the usual CHANMODES classes (ISUPPORT 005): list modes take a mask (none: a list
query), `k` always takes a parameter, `l` only when set, flags never; `o` and `v` take a member's nick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..protocol import numerics as rpl
from . import masks
from .channel import Channel, ListEntry

PREFIX_MODES = "ov"
LIST_MODES = "be"
FLAG_MODES = "imnst"
#: ISUPPORT tokens describing the above.
PREFIX = "(ov)@+"
CHANMODES = f"{LIST_MODES},k,l,{FLAG_MODES}"
#: Modes with a parameter one MODE line may change (ISUPPORT MODES); the rest are ignored.
MODES_PER_LINE = 4
#: Entries of each list mode (ISUPPORT MAXLIST).
MAXLIST = 100
KEYLEN = 23
MASKLEN = 100
MAX_LIMIT = 100_000

#: A numeric and its parameters after the client's nick.
Refusal = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    adding: bool
    letter: str
    arg: str | None = None


def parse(modestring: str, args: Sequence[str]) -> tuple[list[Change], list[str]]:
    """The changes a mode string asks for, and its unknown letters.

    A list mode without a mask is a query (arg None); `+k`, `+o`, `-o`, `+v`, `-v` and `+l` without
    their parameter are dropped, as ngircd and InspIRCd do; `-k` takes one if there is one.
    """
    changes: list[Change] = []
    unknown: list[str] = []
    rest = list(args)
    adding = True
    with_param = 0
    for letter in modestring:
        if letter in "+-":
            adding = letter == "+"
            continue
        needs = letter in PREFIX_MODES + LIST_MODES or letter == "k" or (letter == "l" and adding)
        if letter not in PREFIX_MODES + LIST_MODES + FLAG_MODES + "kl":
            unknown.append(letter)
        elif not needs:
            changes.append(Change(adding, letter))
        elif rest:
            with_param += 1
            arg = rest.pop(0)
            if with_param <= MODES_PER_LINE:
                changes.append(Change(adding, letter, arg))
        elif letter in LIST_MODES:
            changes.append(Change(adding, letter))  # a list query
        elif letter == "k" and not adding:
            changes.append(Change(False, "k"))
    return changes, unknown


def apply(channel: Channel, change: Change, setter: str, now: int) -> Change | Refusal | None:
    """Apply a flag, key, limit or list change (not o/v: the caller resolves the member).

    Returns the change as it is shown to the channel, a refusal numeric, or None when nothing changed.
    """
    letter, arg = change.letter, change.arg
    if letter in FLAG_MODES:
        if (letter in channel.modes) == change.adding:
            return None
        (channel.modes.add if change.adding else channel.modes.discard)(letter)
        return Change(change.adding, letter)
    if letter == "k":
        if not change.adding:
            if channel.key is None:
                return None
            channel.key = None
            return Change(False, "k", "*")
        assert arg is not None
        if not is_word(arg) or len(arg) > KEYLEN or "," in arg:
            return invalid(channel, "k", arg, f"Key must be 1 to {KEYLEN} printable characters, no space or comma")
        channel.key = arg
        return change
    if letter == "l":
        if not change.adding:
            if channel.limit is None:
                return None
            channel.limit = None
            return change
        assert arg is not None
        if not arg.isdigit() or not 0 < int(arg) <= MAX_LIMIT:
            return invalid(channel, "l", arg, f"Limit must be a number from 1 to {MAX_LIMIT}")
        channel.limit = int(arg)
        return Change(True, "l", str(channel.limit))
    if letter in LIST_MODES:
        assert arg is not None
        entries = channel.bans if letter == "b" else channel.excepts
        mask = masks.normalize(arg)
        if len(mask) > MASKLEN or not is_word(mask):
            return invalid(channel, letter, arg, f"Mask must be at most {MASKLEN} printable characters, no space")
        if not change.adding:
            return Change(False, letter, mask) if entries.pop(mask, None) else None
        if mask in entries:
            return None
        if len(entries) >= MAXLIST:
            return rpl.ERR_BANLISTFULL, channel.name, letter, "Channel list is full"
        entries[mask] = ListEntry(mask, setter, now)
        return Change(True, letter, mask)
    raise ValueError(f"apply() does not handle mode {letter!r}")


def is_word(text: str) -> bool:
    """True if `text` can stand as one middle IRC parameter in the replies that show it (324, 367, MODE)."""
    return bool(text) and text.isprintable() and " " not in text and not text.startswith(":")


def invalid(channel: Channel, letter: str, arg: str, why: str) -> Refusal:
    return rpl.ERR_INVALIDMODEPARAM, channel.name, letter, arg, why


def param_letters(modestring: str) -> list[str]:
    """The letters of a rendered mode string that have a parameter, in order (as `render` wrote them)."""
    letters, adding = [], True
    for letter in modestring:
        if letter in "+-":
            adding = letter == "+"
        elif letter in PREFIX_MODES + LIST_MODES + "k" or (letter == "l" and adding):
            letters.append(letter)
    return letters


def render(changes: Sequence[Change]) -> tuple[str, ...]:
    """`+ob-k alice mask *`: the mode string then the parameters, signs only where they switch."""
    text, args, sign = "", [], ""
    for change in changes:
        wanted = "+" if change.adding else "-"
        if wanted != sign:
            text += wanted
            sign = wanted
        text += change.letter
        if change.arg is not None:
            args.append(change.arg)
    return (text, *args)
