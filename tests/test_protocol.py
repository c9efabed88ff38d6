"""Pure tests of the sans-IO protocol package: no sockets, no trio."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multichat_trio.protocol import (
    MAX_CLIENT_TAGS,
    ForbiddenCharacter,
    LineFramer,
    LineTooLong,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    casefold,
    encode,
    format_message,
    is_channel_name,
    is_valid_nick,
    parse,
    text_line,
)


def test_parse_full_message_with_tags_source_and_trailing() -> None:
    message = parse(r"@time=2026-01-01T00:00:00.000Z;msgid=a\sb :nick!u@h PRIVMSG #lobby :hello there")
    assert message == Message(
        "PRIVMSG", ("#lobby", "hello there"), "nick!u@h", {"time": "2026-01-01T00:00:00.000Z", "msgid": "a b"}
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("PING :abc", Message("PING", ("abc",))),
        ("ping abc", Message("PING", ("abc",))),
        ("NICK  alice", Message("NICK", ("alice",))),
        ("PRIVMSG #a ::)", Message("PRIVMSG", ("#a", ":)"))),
        ("PRIVMSG #a :", Message("PRIVMSG", ("#a", ""))),
        ("USER u 0 * :Real Name", Message("USER", ("u", "0", "*", "Real Name"))),
        (":server 001 alice :Welcome", Message("001", ("alice", "Welcome"), "server")),
        ("@flag CAP LS", Message("CAP", ("LS",), None, {"flag": ""})),
    ],
)
def test_parse_examples(line: str, expected: Message) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize("line", ["", "   ", ":onlysource", "@tags", ":src :trailing"])
def test_parse_rejects_lines_without_command(line: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse(line)


@pytest.mark.parametrize(
    "line",
    ["PRIVMSG #a :a\0b", "PRIVMSG #a :a\rb", "PRIVMSG #a :a\nb", "NICK al\0ce", "@k=\0 PING x", ":s\r PING x", "\0"],
)
def test_parse_refuses_nul_cr_and_lf_anywhere(line: str) -> None:
    with pytest.raises(ForbiddenCharacter):
        parse(line)


def test_a_tag_that_unescapes_to_a_line_break_is_dropped() -> None:
    assert parse(r"@a=x\ry;b=x\ny;c=x\sy PING t").tags == {"c": "x y"}


@given(st.text(max_size=200) | st.text(st.sampled_from("@:;= \\rnsx\0\r\n"), max_size=40))
def test_nothing_parsed_holds_nul_cr_or_lf(line: str) -> None:
    try:
        message = parse(line)
    except RemoteProtocolError:
        return
    words = [message.command, message.source or "", *message.params, *message.tags, *message.tags.values()]
    assert not any(ch in word for word in words for ch in "\0\r\n")


def test_format_adds_colon_only_where_needed() -> None:
    assert format_message(Message("JOIN", ("#a",))) == "JOIN #a"
    assert format_message(Message("NICK", ("lunch",))) == "NICK lunch"
    assert format_message(Message("001", ("bob", "hi there"))) == "001 bob :hi there"
    assert format_message(Message("001", ("bob", ""))) == "001 bob :"
    assert format_message(Message("001", ("bob", ":)"))) == "001 bob ::)"
    assert format_message(Message("X", ("a",), "s", {"k": "v;w"})) == r"@k=v\:w :s X a"


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (Message("PRIVMSG", ("#a", "hi")), "PRIVMSG #a :hi"),
        (Message("NOTICE", ("bob", "hi")), "NOTICE bob :hi"),
        (Message("QUIT", ("bye",)), "QUIT :bye"),
        (Message("PART", ("#a", "bye")), "PART #a :bye"),
        (Message("KICK", ("#a", "bob", "spam")), "KICK #a bob :spam"),
        (Message("TOPIC", ("#a", "news")), "TOPIC #a :news"),
        (Message("ERROR", ("Closing",)), "ERROR :Closing"),
        (Message("AWAY", ("lunch",), "a!u@h"), ":a!u@h AWAY :lunch"),  # away-notify, as the spec shows it
        (Message("AWAY", (), "a!u@h"), ":a!u@h AWAY"),
        # Without their text these have none to mark: the last parameter is a target.
        (Message("PART", ("#a",)), "PART #a"),
        (Message("TOPIC", ("#a",)), "TOPIC #a"),
        (Message("KICK", ("#a", "bob")), "KICK #a bob"),
    ],
)
def test_a_text_parameter_always_goes_out_with_its_colon(message: Message, line: str) -> None:
    assert format_message(message) == line


@pytest.mark.parametrize(
    "message",
    [
        Message("PRIVMSG", ("has space", "x")),
        Message("PRIVMSG", ("#a", "line\r\nbreak")),
        Message("", ()),
        Message("PRIVMSG", (":colon", "x")),
    ],
)
def test_format_refuses_what_cannot_be_sent(message: Message) -> None:
    with pytest.raises(LocalProtocolError):
        format_message(message)


_word = st.text(st.characters(blacklist_characters=" \r\n\0:", blacklist_categories=("Cs",)), min_size=1).filter(
    lambda s: not s.startswith("@")
)
_trailing = st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)))
_tag_key = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-/."), min_size=1, max_size=10)
_tag_value = st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=20)
_messages = st.builds(
    lambda command, middles, trailing, source, tags: Message(
        command, tuple(middles) + ((trailing,) if trailing is not None else ()), source, tags
    ),
    st.sampled_from(["PRIVMSG", "NOTICE", "JOIN", "001", "353", "CAP", "KICK", "QUIT"]),
    st.lists(_word, max_size=4),
    st.none() | _trailing,
    st.none() | _word,
    st.dictionaries(_tag_key, _tag_value, max_size=3),
)


@given(_messages)
def test_parse_inverts_format(message: Message) -> None:
    assert parse(format_message(message)) == message


@given(
    st.sampled_from(["PRIVMSG", "NOTICE"]),
    _word,
    st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), min_size=1, max_size=600),
    _word,
)
def test_a_chat_line_is_the_encoded_message_without_one(command: str, target: str, text: str, source: str) -> None:
    """`text_line` skips the `Message` and its checks (its parts are valid already), not a byte of the result:
    the long texts are cut at the same place, never inside a UTF-8 character."""
    assert text_line(source, command, target, text) == encode(Message(command, (target, text), source))


@pytest.mark.parametrize("text", ["a\r\nQUIT", "a\nb", "nul\0"])
def test_a_chat_line_refuses_a_text_that_could_end_it(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        text_line("nick!u@h", "PRIVMSG", "#room", text)


@given(st.binary(max_size=2048), st.integers(min_value=1, max_value=64))
def test_no_byte_string_crashes_framing_and_parsing(data: bytes, chunk: int) -> None:
    framer = LineFramer()
    for start in range(0, len(data), chunk):
        for line in framer.feed(data[start : start + chunk]):
            if isinstance(line, LineTooLong):
                continue
            assert b"\n" not in line and line
            with contextlib.suppress(UnicodeDecodeError, RemoteProtocolError):
                parse(line.decode("utf-8"))
    assert framer.pending <= MAX_CLIENT_TAGS + 511


def test_framer_accepts_crlf_and_bare_lf_and_skips_empty_lines() -> None:
    framer = LineFramer()
    assert framer.feed(b"NICK a\r\nUSER b\n\r\n\nPIN") == [b"NICK a", b"USER b"]
    assert framer.feed(b"G x\r") == []
    assert framer.feed(b"\n") == [b"PING x"]


def test_framer_reports_an_overlong_line_once_and_recovers() -> None:
    framer = LineFramer(max_line=512)
    assert framer.feed(b"A" * 510 + b"\r\n") == [b"A" * 510]
    out = framer.feed(b"B" * 511 + b"\r\nPING ok\r\n")
    assert out == [LineTooLong(511), b"PING ok"]
    # An over-long line arriving in pieces is discarded as it comes, then reported at its end.
    assert framer.feed(b"C" * 600) == []
    assert framer.pending == 0
    assert framer.feed(b"C" * 600 + b"\nPING after\n") == [LineTooLong(1200), b"PING after"]


def _tagged(tags_part: int, rest: int) -> bytes:
    """A line whose tags part (`@`, tags, space) is `tags_part` bytes and the rest `rest` bytes, CRLF aside."""
    head = b"@+draft/reply=" + b"r" * (tags_part - 15) + b" "
    line = head + b"PRIVMSG #lobby :" + b"x" * (rest - 16)
    assert len(head) == tags_part and len(line) == tags_part + rest
    return line


def test_a_tags_part_has_its_own_4096_bytes_beside_the_512_of_the_rest() -> None:
    framer = LineFramer()
    longest = _tagged(MAX_CLIENT_TAGS, 510)
    assert framer.feed(longest + b"\r\n") == [longest]
    assert framer.feed(_tagged(MAX_CLIENT_TAGS + 1, 100) + b"\r\n") == [LineTooLong(MAX_CLIENT_TAGS + 1 + 100)]
    assert framer.feed(_tagged(100, 511) + b"\r\nPING ok\r\n") == [LineTooLong(611), b"PING ok"]
    assert framer.feed(b"@a " + b"x" * 600 + b"\n") == [LineTooLong(603)]  # short tags lend the rest nothing


def test_a_tagged_line_in_pieces_is_held_only_within_its_budget() -> None:
    framer = LineFramer()
    line = _tagged(3000, 400)
    assert framer.feed(line[:2999]) == [] and framer.pending == 2999  # the tags part may still end
    assert framer.feed(line[2999:] + b"\r") == [] and framer.pending == len(line) + 1
    assert framer.feed(b"\n") == [line]
    assert framer.feed(b"@" + b"t" * MAX_CLIENT_TAGS) == [] and framer.pending == 0  # no space in 4096: too long
    assert framer.feed(b" PING x\n") == [LineTooLong(MAX_CLIENT_TAGS + 8)]
    assert framer.feed(b"@t " + b"x" * 512) == [] and framer.pending == 0  # past the rest's 510 and a CR
    assert framer.feed(b"\nPING after\n") == [LineTooLong(515), b"PING after"]


def test_encode_caps_lines_at_512_bytes_without_breaking_utf8() -> None:
    data = encode(Message("PRIVMSG", ("#lobby", "é" * 400), "nick!user@host"))
    assert len(data) <= 512 and data.endswith(b"\r\n")
    data.decode("utf-8")
    tagged = encode(Message("PRIVMSG", ("#lobby", "x" * 600), "n!u@h", {"time": "2026-01-01T00:00:00.000Z"}))
    assert len(tagged.split(b" ", 1)[1]) <= 512


def test_rfc1459_casemapping() -> None:
    assert casefold("Nick[A]\\~") == "nick{a}|^"
    assert casefold("ALICE") == casefold("alice")
    assert casefold("#Über[X]") == "#Über{x}"  # only ASCII letters fold, under rfc1459


@given(st.text())
def test_casefold_folds_exactly_the_rfc1459_letters(name: str) -> None:
    upper, lower = "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^"
    assert casefold(name) == "".join(lower[upper.index(c)] if c in upper else c for c in name)


@pytest.mark.parametrize("nick", ["alice", "Bob_", "[x]", "a-1", "x" * 30, "`tick", "{brace}"])
def test_valid_nicks(nick: str) -> None:
    assert is_valid_nick(nick)


@pytest.mark.parametrize("nick", ["", "1abc", "-a", "a b", "x" * 31, "*relay", "a,b", "é", "a!b", "#chan"])
def test_invalid_nicks(nick: str) -> None:
    assert not is_valid_nick(nick)


def test_relay_mark_is_valid_only_for_relayed_users() -> None:
    assert is_valid_nick("*relay_user", relayed=True)
    assert not is_valid_nick("relay_user", relayed=True)
    assert not is_valid_nick("**x", relayed=True)
    assert not is_valid_nick("*" + "x" * 30, relayed=True)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("#lobby", True),
        ("#", False),
        ("lobby", False),
        ("#a b", False),
        ("#a,b", False),
        ("#" + "x" * 49, True),
        ("#" + "x" * 50, False),
    ],
)
def test_channel_names(name: str, ok: bool) -> None:
    assert is_channel_name(name) is ok
