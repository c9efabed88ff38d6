// What the user types: a message to the open conversation, or a slash command.
import { deliver, forget, notice, query, quit, select, send } from "./client.js";
import { isChannel, key, split, validNick } from "./irc.js";
import { conv, here, state } from "./state.js";

/** Commands, their usage and what they do, for /help and Tab completion. */
export const HELP = {
  join: ["/join #channel", "join or create a channel"],
  part: ["/part [#channel] [reason]", "leave a channel"],
  msg: ["/msg nick text", "a private message"],
  query: ["/query nick", "open a private conversation"],
  me: ["/me text", "an action: * you text"],
  nick: ["/nick newname", "change your nickname"],
  topic: ["/topic [text]", "show or set the channel's topic"],
  away: ["/away [message]", "mark yourself away; /away alone (or /back) clears it"],
  back: ["/back", "no longer away"],
  whois: ["/whois nick", "who someone is"],
  list: ["/list", "the channel list"],
  close: ["/close", "close this private conversation"],
  op: ["/op nick", "give channel operator (channel operators)"],
  deop: ["/deop nick", "take channel operator"],
  voice: ["/voice nick", "give voice (+v)"],
  devoice: ["/devoice nick", "take voice"],
  kick: ["/kick nick [reason]", "remove someone from the channel"],
  ban: ["/ban nick|mask", "ban from the channel (nick means nick!*@*)"],
  unban: ["/unban mask", "lift a ban"],
  invite: ["/invite nick [#channel]", "invite someone"],
  mode: ["/mode [+modes args]", "show or change the channel's modes"],
  oper: ["/oper name password", "become a server operator"],
  quote: ["/quote LINE", "send a raw IRC line"],
  quit: ["/quit [reason]", "leave the chat"],
  help: ["/help", "this list"],
};

/** Room on a line for the `:nick!user@host ` prefix the server adds when it relays it (as the GUI keeps). */
const PREFIX_RESERVE = 80;

function say(target, text, action = false) {
  const head = `PRIVMSG ${target} :${action ? "\x01ACTION \x01" : ""}`;
  const budget = 510 - new TextEncoder().encode(head).length - PREFIX_RESERVE;
  for (const piece of split(text, budget)) {
    send(`PRIVMSG ${target} :${action ? `\x01ACTION ${piece}\x01` : piece}`);
    if (!state.caps.has("echo-message")) {
      const line = { time: new Date(), nick: state.nick, text: piece, cls: action ? "action" : "message", self: true };
      deliver(conv(target), line);
    }
  }
}

const usage = (name) => notice(`usage: ${HELP[name][0]}`, "error");

function channelHere(name) {
  const c = here();
  if (c && c.kind === "channel") return c.name;
  notice(`/${name} works in a channel`, "error");
  return null;
}

function mode(name, sign, letter, who) {
  const channel = channelHere(name);
  if (!channel) return;
  if (!who.length) return usage(name);
  send(`MODE ${channel} ${sign}${letter.repeat(who.length)} ${who.join(" ")}`);
}

export function run(text) {
  const c = here();
  if (!text.startsWith("/") || text.startsWith("//")) {
    if (!c) return notice("join a channel first: /join #name (or /list)", "error");
    if (c.kind === "channel" && !c.joined) return notice(`you are not in ${c.name}: /join ${c.name}`, "error");
    return say(c.name, text.startsWith("//") ? text.slice(1) : text);
  }
  const [, name = "", rest = ""] = /^\/(\S*)\s*(.*)$/.exec(text) || [];
  const args = rest.split(" ").filter(Boolean);
  const command = name.toLowerCase();
  switch (command) {
    case "join":
    case "j":
    {
      if (!args[0]) return usage("join");
      const names = args[0].split(",").filter(Boolean).map((a) => (isChannel(a) ? a : `#${a}`));
      for (const n of names) state.joining.add(key(n));
      return send(args[1] ? `JOIN ${names.join(",")} ${args[1]}` : `JOIN ${names.join(",")}`);
    }
    case "part":
    case "leave": {
      const channel = args[0] && isChannel(args[0]) ? args.shift() : c && c.kind === "channel" ? c.name : null;
      if (!channel) return usage("part");
      return send(args.length ? `PART ${channel} :${args.join(" ")}` : `PART ${channel}`);
    }
    case "msg":
    case "query": {
      const [nick] = args;
      if (!nick) return usage(command);
      if (!isChannel(nick) && !validNick(nick)) return notice(`not a nickname: ${nick}`, "error");
      const words = rest.slice(rest.indexOf(nick) + nick.length).trim();
      if (!isChannel(nick)) query(nick);
      if (command === "query" || !isChannel(nick)) select(nick);
      if (words) say(nick, words);
      return;
    }
    case "me":
      if (!c) return notice("join a channel first: /join #name", "error");
      return say(c.name, rest, true);
    case "nick":
      if (!args[0]) return usage("nick");
      return send(`NICK ${args[0]}`);
    case "topic": {
      const channel = channelHere("topic");
      if (channel) send(rest ? `TOPIC ${channel} :${rest}` : `TOPIC ${channel}`);
      return;
    }
    case "away":
      state.awayText = rest; // said again after a reconnect
      return send(rest ? `AWAY :${rest}` : "AWAY");
    case "back":
      state.awayText = "";
      return send("AWAY");
    case "whois":
      if (!args[0]) return usage("whois");
      return send(`WHOIS ${args[0]}`);
    case "list":
      return send("LIST");
    case "close":
      if (!c || c.kind !== "query") return notice("/close closes a private conversation; /part leaves a channel", "error");
      return forget(c.name);
    case "op":
      return mode("op", "+", "o", args);
    case "deop":
      return mode("deop", "-", "o", args);
    case "voice":
      return mode("voice", "+", "v", args);
    case "devoice":
      return mode("devoice", "-", "v", args);
    case "kick": {
      const channel = channelHere("kick");
      if (!channel) return;
      if (!args[0]) return usage("kick");
      const reason = args.slice(1).join(" ");
      return send(reason ? `KICK ${channel} ${args[0]} :${reason}` : `KICK ${channel} ${args[0]}`);
    }
    case "ban":
    case "unban": {
      const channel = channelHere(command);
      if (!channel) return;
      if (!args[0]) return usage(command);
      const mask = /[!@*]/.test(args[0]) ? args[0] : `${args[0]}!*@*`;
      return send(`MODE ${channel} ${command === "ban" ? "+b" : "-b"} ${mask}`);
    }
    case "invite": {
      const channel = args[1] || (c && c.kind === "channel" ? c.name : null);
      if (!args[0] || !channel) return usage("invite");
      return send(`INVITE ${args[0]} ${channel}`);
    }
    case "mode": {
      const channel = args[0] && isChannel(args[0]) ? args.shift() : channelHere("mode");
      if (channel) send(args.length ? `MODE ${channel} ${args.join(" ")}` : `MODE ${channel}`);
      return;
    }
    case "oper":
      if (args.length < 2) return usage("oper");
      return send(`OPER ${args[0]} ${args.slice(1).join(" ")}`);
    case "quote":
    case "raw":
      if (!rest) return usage("quote");
      return send(rest);
    case "quit":
      return quit(rest);
    case "help":
      for (const [usageText, what] of Object.values(HELP)) notice(`${usageText}: ${what}`);
      return;
    default:
      return notice(`unknown command /${name}: /help lists them`, "error");
  }
}
