"""Pure input rules of the GUI: the connect form's validation, the input line's commands, splitting."""

from __future__ import annotations

import pytest
from multichat_gui.outgoing import NotSent, messages_for
from multichat_gui.userinput import (
    USAGE,
    Act,
    Away,
    Ban,
    ChangeNick,
    ConnectTarget,
    InputError,
    Invite,
    Join,
    Kick,
    ListChannels,
    MemberModes,
    MessageTo,
    Mode,
    Oper,
    Part,
    Query,
    QuitChat,
    Quote,
    Say,
    ShowHelp,
    Topic,
    Whois,
    parse_input,
    split_text,
    validate_connect,
)

from multichat_trio.protocol import encode


def test_valid_form_gives_a_target() -> None:
    assert validate_connect(" iclal ", "127.0.0.1", "12345") == ConnectTarget("iclal", "127.0.0.1", 12345)


@pytest.mark.parametrize(
    ("nick", "host", "port", "fields"),
    [
        ("", "127.0.0.1", "12345", {"nick"}),
        ("9lives", "127.0.0.1", "12345", {"nick"}),
        ("*relayed", "127.0.0.1", "12345", {"nick"}),
        ("bob", "", "12345", {"host"}),
        ("bob", "localhost", "twelve", {"port"}),
        ("bob", "localhost", "70000", {"port"}),
        ("", "", "", {"nick", "host", "port"}),
    ],
)
def test_bad_form_input_names_each_wrong_field(nick: str, host: str, port: str, fields: set[str]) -> None:
    errors = validate_connect(nick, host, port)
    assert isinstance(errors, dict) and set(errors) == fields and all(errors.values())


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello", Say("hello")),
        ("/nick bobby", ChangeNick("bobby")),
        ("/me waves", Act("waves")),
        ("/msg alice hi there", MessageTo("alice", "hi there")),
        ("/quit gone fishing", QuitChat("gone fishing")),
        ("/QUIT", QuitChat("")),
        ("/join #x", Join(("#x",))),
        ("/join #a,b secret", Join(("#a", "#b"), "secret")),
        ("/part", Part()),
        ("/part #a see you", Part("#a", "see you")),
        ("/part see you", Part("", "see you")),
        ("/topic", Topic(None)),
        ("/topic New topic here", Topic("New topic here")),
        ("/away lunch", Away("lunch")),
        ("/away", Away("Away")),
        ("/back", Away("")),
        ("/list", ListChannels()),
        ("/whois alice", Whois("alice")),
        ("/query alice", Query("alice")),
        ("/query alice hi", Query("alice", "hi")),
        ("/kick bob enough now", Kick("bob", "enough now")),
        ("/mode", Mode()),
        ("/mode +m", Mode(("+m",))),
        ("/op alice bob", MemberModes("+o", ("alice", "bob"))),
        ("/deop alice", MemberModes("-o", ("alice",))),
        ("/voice bob", MemberModes("+v", ("bob",))),
        ("/devoice bob", MemberModes("-v", ("bob",))),
        ("/ban bob", Ban(("bob",))),
        ("/unban *!*@host", Ban(("*!*@host",), remove=True)),
        ("/invite bob", Invite("bob")),
        ("/invite bob other", Invite("bob", "#other")),
        ("/oper admin s3cret", Oper("admin", "s3cret")),
        ("/quote PRIVMSG #a :raw", Quote("PRIVMSG #a :raw")),
        ("/help", ShowHelp()),
        ("/foo bar", InputError("Unknown command /foo: /help lists them")),
        ("/whois", InputError("Usage: /whois nick")),
        ("/oper admin", InputError("Usage: /oper name password")),
        ("/unban", InputError("Usage: /ban nick|mask...")),
        ("/ thing", InputError("Unknown command /: /help lists them")),
        ("//nick is a command", Say("/nick is a command")),
        ("/msg alice", InputError("Usage: /msg nick message")),
        ("/nick", InputError("Usage: /nick newname")),
        ("/me", InputError("Usage: /me does something")),
        ("   ", None),
    ],
)
def test_input_line_commands(line: str, command: object) -> None:
    assert parse_input(line) == command


def test_every_command_in_help_parses_to_a_command() -> None:
    """No slash command of /help falls through to text, and none is unknown."""
    for name in USAGE:
        parsed = parse_input(f"{name} x y")
        assert parsed is not None and not isinstance(parsed, Say)
        assert not (isinstance(parsed, InputError) and "Unknown" in parsed.text), name


@pytest.mark.parametrize(
    ("line", "window", "sent"),
    [
        ("/join #a,#b key", "#lobby", ["JOIN #a,#b key"]),
        ("/part", "#lobby", ["PART #lobby"]),
        ("/part #a gone now", "alice", ["PART #a :gone now"]),
        ("/topic", "#lobby", ["TOPIC #lobby"]),
        ("/topic Hello all", "#lobby", ["TOPIC #lobby :Hello all"]),
        ("/away at lunch", "#lobby", ["AWAY :at lunch"]),
        ("/back", "", ["AWAY"]),
        ("/list", "#lobby", ["LIST"]),
        ("/whois alice", "#lobby", ["WHOIS alice"]),
        ("/kick bob go away", "#lobby", ["KICK #lobby bob :go away"]),
        ("/mode", "#lobby", ["MODE #lobby"]),
        ("/mode +mt", "#lobby", ["MODE #lobby +mt"]),
        ("/mode #other +i", "#lobby", ["MODE #other +i"]),
        ("/mode GUI +i", "#lobby", ["MODE GUI +i"]),
        ("/op a b c d e", "#lobby", ["MODE #lobby +oooo a b c d", "MODE #lobby +o e"]),
        ("/devoice bob", "#lobby", ["MODE #lobby -v bob"]),
        ("/ban bob *!*@10.0.0.1", "#lobby", ["MODE #lobby +bb bob!*@* *!*@10.0.0.1"]),
        ("/unban bob", "#lobby", ["MODE #lobby -b bob!*@*"]),
        ("/invite bob", "#lobby", ["INVITE bob #lobby"]),
        ("/invite bob #x", "alice", ["INVITE bob #x"]),
        ("/oper admin pw", "", ["OPER admin pw"]),
        ("/quote NAMES #lobby", "", ["NAMES #lobby"]),
        ("/nick Guido", "#lobby", ["NICK Guido"]),
    ],
)
def test_commands_become_irc_lines_for_this_window(line: str, window: str, sent: list[str]) -> None:
    command = parse_input(line)
    assert command is not None
    assert [encode(m).decode().rstrip("\r\n") for m in messages_for(command, window, "gui")] == sent


@pytest.mark.parametrize(
    ("line", "window", "says"),
    [
        ("/topic hi", "alice", "in a channel's window"),
        ("/kick bob", "", "in a channel's window"),
        ("/op bob", "alice", "/op"),
        ("/join #a:b", "#lobby", "not a channel name"),
        ("/nick 9lives", "#lobby", "not a valid nickname"),
        ("/quote :nocommand", "", "Not an IRC line"),
    ],
)
def test_commands_that_cannot_go_say_why(line: str, window: str, says: str) -> None:
    command = parse_input(line)
    assert command is not None
    with pytest.raises(NotSent, match=says):
        messages_for(command, window, "gui")


def test_split_keeps_words_characters_and_lines() -> None:
    text = "é" * 10 + " " + "word " * 20 + "\nsecond line"
    pieces = split_text(text, 20)
    assert all(len(p.encode()) <= 20 for p in pieces)
    assert pieces[0] == "é" * 10
    assert pieces[-1] == "second line"
    assert " ".join(pieces[1:-1]).split() == ["word"] * 20


def test_split_cuts_a_long_word_between_characters() -> None:
    pieces = split_text("ü" * 15, 7)
    assert pieces == ["üüü"] * 5
