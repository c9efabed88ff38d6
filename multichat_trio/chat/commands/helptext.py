"""What HELP says about each command: its syntax, then a line or two on what it does.

HELP serves an entry only for a command in the table, so a text may be written ahead of its
command; tests/test_info.py checks that every command in the table has one.
"""

from __future__ import annotations

HELP: dict[str, tuple[str, ...]] = {
    "ADMIN": ("ADMIN", "Who runs this server and how to reach them."),
    "AUTHENTICATE": ("AUTHENTICATE PLAIN | EXTERNAL | <base64> | *", "Logs in to an account with SASL (CAP sasl)."),
    "AWAY": ("AWAY [:<message>]", "Marks you away with <message>, or back without one."),
    "CAP": ("CAP LS [302] | CAP REQ :<caps> | CAP LIST | CAP END", "Negotiates IRCv3 capabilities."),
    "CHANSERV": ("CHANSERV <command> | CS <command>", "The same as /msg ChanServ <command> (try CS HELP)."),
    "CHATHISTORY": (
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <msgid=id|timestamp=t|*> <limit>",
        "Stored messages of a channel you are in (or a PM, with --store-pms); also BETWEEN, TARGETS.",
    ),
    "CS": ("CS <command>", "The same as /msg ChanServ <command> (try CS HELP)."),
    "HELP": ("HELP [<command>]", "Lists the commands, or tells about one."),
    "INFO": ("INFO", "What this server is."),
    "INVITE": ("INVITE <nick> <#chan>", "Invites <nick> to <#chan>, past +i if you are a channel operator."),
    "MARKREAD": (
        "MARKREAD <target> [timestamp=YYYY-MM-DDThh:mm:ss.sssZ]",
        "Tells, or moves forward, the time you last read <target> up to (CAP draft/read-marker; logged in only).",
    ),
    "NICKSERV": ("NICKSERV <command> | NS <command>", "The same as /msg NickServ <command> (try NS HELP)."),
    "NS": ("NS <command>", "The same as /msg NickServ <command> (try NS HELP)."),
    "REGISTER": ("REGISTER <account|*> <email|*> <password>", "Registers your nickname as an account."),
    "TAGMSG": ("TAGMSG <target>", "Client-only tags (CAP message-tags), such as +typing: accepted, not relayed."),
    "VERIFY": ("VERIFY <account> <code>", "Completes a registration that waits for a code (none here do)."),
    "ISON": ("ISON <nick> [<nick> ...]", "Which of these nicks are online."),
    "JOIN": ("JOIN <#chan>[,<#chan>] [<key>[,<key>]] | JOIN 0", "Joins channels (creating them), or leaves all."),
    "KICK": ("KICK <#chan> <nick> [:<reason>]", "Removes <nick> from <#chan> (channel operators)."),
    "KILL": ("KILL <nick> :<reason>", "Disconnects <nick> (server operators)."),
    "LIST": ("LIST [<#chan>[,<#chan>]]", "Channels with their member counts and topics."),
    "LUSERS": ("LUSERS", "How many users and channels there are."),
    "MODE": (
        "MODE <#chan> [<modes> [<args>]] | MODE <nick> [<modes>]",
        "Shows or changes a channel's modes, or your own user modes.",
    ),
    "MOTD": ("MOTD", "The message of the day."),
    "NAMES": ("NAMES [<#chan>[,<#chan>]]", "Who is in a channel."),
    "NICK": ("NICK <nick>", "Changes your nickname; everyone sharing a channel with you sees it."),
    "NOTICE": ("NOTICE <target>[,<target>] :<text>", "Like PRIVMSG, but never answered with an error."),
    "OPER": ("OPER <name> <password>", "Makes you a server operator."),
    "PART": ("PART <#chan>[,<#chan>] [:<reason>]", "Leaves channels."),
    "PASS": ("PASS <password>", "The server password, before NICK and USER (when the server has one)."),
    "PING": ("PING <token>", "The server answers PONG <server> <token>."),
    "PONG": ("PONG <token>", "Answers the server's PING."),
    "PRIVMSG": ("PRIVMSG <target>[,<target>] :<text>", "Sends <text> to a channel you are in, or to a nick."),
    "QUIT": ("QUIT [:<reason>]", "Leaves the server; others see <reason>."),
    "REHASH": ("REHASH", "Reloads the configuration file (server operators)."),
    "TIME": ("TIME", "The server's time."),
    "TOPIC": ("TOPIC <#chan> [:<topic>]", "Shows or sets a channel's topic (TOPIC <#chan> : clears it)."),
    "USER": ("USER <user> 0 * :<real name>", "Registers, with NICK."),
    "USERHOST": ("USERHOST <nick> [<nick> ...]", "The user@host of up to five nicks."),
    "VERSION": ("VERSION", "The server's version, then what it supports (005)."),
    "WEBIRC": ("WEBIRC <secret> <gateway> <hostname> <ip>", "For trusted relays only, as the first command."),
    "WHO": ("WHO <#chan or nick>", "One line per user: user, host, nick, away or here, real name."),
    "WHOIS": ("WHOIS <nick>", "About an online user: address, channels, away, idle time and signon."),
    "WHOWAS": ("WHOWAS <nick> [<count>]", "Who recently used <nick>, newest first."),
    "DLINE": (
        "DLINE [<duration>] <ip or cidr> [:<reason>]",
        "Bans an address or range from the server (server operators).",
    ),
    "HISTSERV": (
        "HISTSERV FORGET <nick> [<duration>]",
        "Removes <nick>'s recent messages from the history and replays (server operators).",
    ),
    "KLINE": (
        "KLINE [<duration>] <mask> [:<reason>] | KLINE LIST",
        "Bans nick!user@host masks, addresses or ranges (server operators).",
    ),
    "STATS": ("STATS k", "Lists the server bans (server operators)."),
    "UNDLINE": ("UNDLINE <ip or cidr>", "Lifts an address ban (server operators)."),
    "UNKLINE": ("UNKLINE <mask>", "Lifts a server ban (server operators)."),
}
#: Other names of commands that HELP knows (the table registers one handler under both).
HELP["HELPOP"] = HELP["HELP"]
