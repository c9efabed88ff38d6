"""Conformance polish: topic numerics, WHOIS 317, VERSION, TIME, ADMIN, INFO, HELP, WHOWAS, and text colons."""

from __future__ import annotations

import pytest
import trio

from multichat_trio.chat.commands import COMMANDS
from multichat_trio.chat.commands.helptext import HELP
from multichat_trio.chat.hub import Client, Hub
from multichat_trio.chat.whowas import WHOWAS_SIZE, Was, Whowas
from multichat_trio.ircd.outbox import Outbox
from multichat_trio.protocol import Message

from .conftest import OpenClient, StartServer
from .ircclient import IrcClient
from .test_hub import join_as, make_hub, received


def ask(hub: Hub, client: Client, line: str) -> list[Message]:
    received(client, hub)  # what came before
    hub.receive(client, line.encode())
    return received(client, hub)


def commands(messages: list[Message]) -> list[str]:
    return [m.command for m in messages]


def test_a_join_without_topic_says_nothing_of_it_and_topic_answers_331() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    joined = ask(hub, alice, "JOIN #side")
    assert commands(joined) == ["JOIN", "353", "366"]
    assert commands(ask(hub, alice, "TOPIC #side")) == ["331"]


def test_333_names_the_setter_by_full_mask_on_join_and_on_topic() -> None:
    hub, _ = make_hub()
    alice, bob = join_as(hub, "alice"), join_as(hub, "bob")
    alice.oper = "admin"  # #lobby is +t with no channel operator: server operators set its topic
    hub.receive(alice, b"TOPIC #lobby :Be nice")
    assert hub.find_channel("#lobby").topic_by == "alice!u@127.0.0.1"  # type: ignore[union-attr]
    topic = ask(hub, bob, "TOPIC #lobby")
    assert topic[1] == Message("333", ("bob", "#lobby", "alice!u@127.0.0.1", "1800000000"), hub.name)
    carol = hub.connect("127.0.0.2", Outbox(1 << 16))
    hub.receive(carol, b"NICK carol")
    hub.receive(carol, b"USER c 0 * :Carol")
    burst = received(carol, hub)
    assert [m.params[2] for m in burst if m.command == "333"] == ["alice!u@127.0.0.1"]


def test_whois_317_gives_idle_seconds_and_signon_time() -> None:
    hub, clock = make_hub()
    alice, bob = join_as(hub, "alice"), join_as(hub, "bob")
    clock.now += 42
    (idle,) = [m for m in ask(hub, alice, "WHOIS bob") if m.command == "317"]
    assert idle.params == ("alice", "bob", "42", "1800000000", "seconds idle, signon time")
    hub.receive(bob, b"PRIVMSG #lobby :hi")
    clock.now += 3
    (idle,) = [m for m in ask(hub, alice, "WHOIS bob") if m.command == "317"]
    assert idle.params[2:4] == ("3", "1800000000")


def test_version_gives_351_then_005_and_a_foreign_server_402() -> None:
    hub, _ = make_hub(flood_rate=0)
    alice, _bob = join_as(hub, "alice"), join_as(hub, "bob")
    reply = ask(hub, alice, "VERSION")
    assert commands(reply)[0] == "351" and commands(reply)[1:] and set(commands(reply)[1:]) == {"005"}
    assert reply[0].params[:3] == ("alice", "multichat-trio-0.1", "multichat.local")
    for here in ("multichat.local", "MULTICHAT.*", "bob"):  # this server, by name, mask or one of its users
        assert commands(ask(hub, alice, f"VERSION {here}"))[0] == "351", here
    for command in ("VERSION", "TIME", "ADMIN", "INFO"):
        assert ask(hub, alice, f"{command} irc.example.org") == [
            Message("402", ("alice", "irc.example.org", "No such server"), hub.name)
        ]


def test_time_gives_391_with_the_server_time() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    assert ask(hub, alice, "TIME") == [
        Message("391", ("alice", "multichat.local", "Friday 15 January 2027 08:00:00 UTC"), hub.name)
    ]


@pytest.mark.parametrize(
    ("admin", "contact"), [("", "No contact given (the server's admin setting)"), ("Ann <a@b.c>", "Ann <a@b.c>")]
)
def test_admin_gives_256_to_259_with_the_configured_contact(admin: str, contact: str) -> None:
    hub, _ = make_hub(admin=admin)
    alice = join_as(hub, "alice")
    reply = ask(hub, alice, "ADMIN")
    assert commands(reply) == ["256", "257", "258", "259"]
    assert reply[0].params[1] == "multichat.local" and reply[-1].params == ("alice", contact)


def test_an_admin_setting_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="admin"):
        make_hub(admin="Ann\r\nPRIVMSG #lobby :spoofed")


def test_info_gives_371_lines_then_374() -> None:
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    reply = ask(hub, alice, "INFO")
    assert set(commands(reply[:-1])) == {"371"} and len(reply) > 1 and reply[-1].command == "374"
    assert all(m.params[0] == "alice" and m.params[1] for m in reply)


@pytest.mark.parametrize("command", ["HELP", "HELPOP", "help"])
def test_help_lists_every_command_and_tells_about_one(command: str) -> None:
    hub, _ = make_hub(flood_rate=0)
    alice = join_as(hub, "alice")
    index = ask(hub, alice, command)
    assert index[0].command == "704" and index[-1].command == "706"
    assert set(commands(index[1:-1])) == {"705"} and {m.params[1] for m in index} == {"*"}
    listed = " ".join(m.params[2] for m in index[1:-1]).split()
    assert listed == sorted(COMMANDS)
    about = ask(hub, alice, f"{command} privmsg")
    assert commands(about) == ["704", "705", "706"]
    assert {m.params[1] for m in about} == {"PRIVMSG"} and about[0].params[2].startswith("PRIVMSG <target>")
    assert ask(hub, alice, f"{command} NOSUCHTHING") == [
        Message("524", ("alice", "NOSUCHTHING", "No help available on this topic"), hub.name)
    ]


def test_every_command_in_the_table_has_a_help_text() -> None:
    """A command added without its HELP entry fails here: add it to chat/commands/helptext.py."""
    assert sorted(set(COMMANDS) - set(HELP)) == []
    assert all(len(text) >= 1 and all(text) for text in HELP.values())


def test_help_has_no_entry_for_a_command_the_server_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text written ahead of its command (helptext.py) is not served until the command exists."""
    hub, _ = make_hub()
    alice = join_as(hub, "alice")
    monkeypatch.delitem(COMMANDS, "AWAY")
    assert commands(ask(hub, alice, "HELP AWAY")) == ["524"]
    assert "AWAY" not in " ".join(m.params[-1] for m in ask(hub, alice, "HELP")[1:-1]).split()


def test_whowas_gives_recent_holders_newest_first_and_counts() -> None:
    hub, _ = make_hub(flood_rate=0)
    alice = join_as(hub, "alice")
    for user in ("first", "second"):
        bob = hub.connect("127.0.0.9", Outbox(1 << 16))
        hub.receive(bob, b"NICK bob")
        hub.receive(bob, f"USER {user} 0 * :Bob {user}".encode())
        hub.receive(bob, b"QUIT :bye")
    reply = ask(hub, alice, "WHOWAS BOB")
    assert commands(reply) == ["314", "312", "314", "312", "369"]
    assert reply[0].params == ("alice", "bob", "second", "127.0.0.9", "*", "Bob second")
    assert reply[1].params == ("alice", "bob", "multichat.local", "Left Friday 15 January 2027 08:00:00 UTC")
    assert reply[2].params[2] == "first"
    assert reply[-1].params == ("alice", "BOB", "End of WHOWAS")
    assert commands(ask(hub, alice, "WHOWAS bob 1")) == ["314", "312", "369"]
    for count in ("0", "-1", "x"):  # not positive: every entry
        assert commands(ask(hub, alice, f"WHOWAS bob {count}")).count("314") == 2
    assert commands(ask(hub, alice, "WHOWAS nobody")) == ["406", "369"]
    assert commands(ask(hub, alice, "WHOWAS")) == ["431"]


def test_whowas_remembers_a_nick_given_up_by_a_nick_change() -> None:
    hub, _ = make_hub()
    alice, bob = join_as(hub, "alice"), join_as(hub, "bob")
    hub.receive(alice, b"NICK alicia")
    reply = ask(hub, bob, "WHOWAS alice")
    assert commands(reply) == ["314", "312", "369"] and reply[0].params[1] == "alice"
    assert commands(ask(hub, bob, "WHOWAS alicia")) == ["406", "369"]  # online, not gone


def test_whowas_keeps_only_the_newest_entries() -> None:
    whowas = Whowas(size=3)
    for i in range(5):
        whowas.add(Was("bob", f"u{i}", "h", "r", float(i)))
    assert [was.user for was in whowas.find("BOB")] == ["u4", "u3", "u2"]
    hub, _ = make_hub(flood_rate=0, max_clients_per_ip=0, max_connects_per_ip=0)
    for i in range(WHOWAS_SIZE + 10):
        client = join_as(hub, f"n{i}")
        hub.receive(client, b"QUIT")
    assert len(hub.whowas) == WHOWAS_SIZE
    assert not hub.whowas.find("n0") and hub.whowas.find(f"n{WHOWAS_SIZE + 9}")


async def _raw_line(client: IrcClient) -> bytes:
    """The next line exactly as the server sent it (nothing may be buffered in `client`)."""
    data = b""
    with trio.fail_after(client.timeout):
        while not data.endswith(b"\r\n"):
            data += await client.stream.receive_some(1)
    return data


async def test_text_parameters_go_out_with_their_colon_on_the_wire(
    start_server: StartServer, open_client: OpenClient
) -> None:
    server = await start_server(flood_rate=0)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await bob.register("bob")
    await bob.send("JOIN #news")  # bob creates it, so bob operates it (and may set its +t topic)
    await bob.sync()
    await alice.send("JOIN #news")
    await alice.sync()
    await bob.sync()  # past alice's JOIN
    await bob.send("PRIVMSG #news hi", "NOTICE alice hey", "TOPIC #news news", "PART #news bye", "JOIN #news")
    lines = [await _raw_line(alice) for _ in range(5)]
    await bob.sync()  # past its own lines
    await bob.send("QUIT bye")
    prefix = b":bob!u@127.0.0.1 "
    assert lines[:4] == [
        prefix + b"PRIVMSG #news :hi\r\n",
        prefix + b"NOTICE alice :hey\r\n",
        prefix + b"TOPIC #news :news\r\n",
        prefix + b"PART #news :bye\r\n",
    ]
    assert await _raw_line(alice) == prefix + b"QUIT :Quit: bye\r\n"
    assert await _raw_line(bob) == b"ERROR :Closing link: Client Quit\r\n"


async def test_server_queries_over_a_socket(start_server: StartServer, open_client: OpenClient) -> None:
    server = await start_server(flood_rate=0)
    alice, bob = await open_client(server.port), await open_client(server.port)
    await alice.register("alice")
    await bob.register("bob", user="bobby")
    await bob.send("QUIT")
    await bob.wait_closed()
    await alice.send("VERSION", "TIME", "ADMIN", "INFO", "HELP TOPIC", "WHOWAS bob", "WHOIS alice")
    seen = commands(await alice.collect_until("318"))
    for numeric in ("351", "005", "391", "256", "259", "371", "374", "704", "706", "314", "369", "317"):
        assert numeric in seen, numeric
    assert "421" not in seen
