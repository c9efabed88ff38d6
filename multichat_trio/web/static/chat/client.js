// The IRC session over the server's IRCv3 WebSocket: registration, what the server says, history, reconnecting.
import { ctcp, isChannel, key, mentions, nickOf, parse, ref, timeOf } from "./irc.js";
import { notify } from "./notify.js";
import { SERVER, conv, current, find, state } from "./state.js";
import { renderAll, renderChannelList, renderConvs, renderHeader, renderLog, renderMembers, setStatus, showLine, showLogin, $ } from "./view.js";

const WANTED_CAPS = [
  "server-time", "echo-message", "multi-prefix", "message-tags", "batch", "draft/chathistory", "away-notify",
  "draft/read-marker",
];
/** Reconnect back-off: 1 s doubling to 30 s, each with up to a third taken off at random. */
const RETRY_FIRST = 1000;
const RETRY_MAX = 30000;
const PAGE = 50;
/** Bounds on what the page collects from the server before showing it: open batches, lines per batch
 * (CHATHISTORY pages are at most 100), rows of a channel list (the server allows 1000 channels). */
const MAX_BATCHES = 16;
const MAX_BATCH_LINES = 1000;
const MAX_LIST_ROWS = 5000;

export function send(line) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(line);
}

// --- lines into conversations ---

/** Adds `line` to `c` (a duplicate msgid is dropped); `live` lines count as unread where not seen.
 * A `sorted` (history) line takes its place in time and is drawn with its batch, by `historyDone`. */
export function deliver(c, line, live = true, sorted = false) {
  if (!c.add(line, sorted)) return;
  const seen = key(c.name) === state.current && !document.hidden;
  const unread = live && line.counts && !line.self;
  if (unread && !c.firstUnread && (!seen || line.history)) c.firstUnread = line; // where the user left off
  if (unread && !seen) {
    c.unread += 1;
    if (line.mention || c.kind === "query") c.mentioned = true;
    if ((line.mention || c.kind === "query") && !line.history) {
      notify(c.kind === "query" ? line.nick : `${line.nick} in ${c.name}`, line.text, c.name);
    }
  }
  if (sorted) return;
  showLine(c, line);
  if (!seen) renderConvs();
  else markRead(c);
}

export function notice(text, cls = "event", where = null) {
  const c = (where && find(where)) || current() || conv(SERVER, "server");
  deliver(c, { time: new Date(), nick: "", text, cls });
}

const event = (c, msg, text) => deliver(c, { time: timeOf(msg), nick: "", text, cls: "event" });

export function select(name) {
  const c = find(name);
  if (!c) return;
  const before = current();
  if (before && before !== c) before.firstUnread = null; // the marker goes once read
  state.current = key(name);
  c.unread = 0;
  c.mentioned = false;
  markRead(c);
  $("chat").classList.remove("show-convs", "show-members");
  renderAll();
  $("input").focus({ preventScroll: true });
}

/** A private conversation, its stored history fetched when it is new (`--store-pms`). */
export function query(nick) {
  const known = find(nick);
  const c = known || conv(nick, "query");
  if (!known && state.registered) catchUp(c);
  return c;
}

export function forget(name) {
  state.convs.delete(key(name));
  if (state.current === key(name)) state.current = key(SERVER);
  renderAll();
}

// --- history (draft/chathistory) ---

function ask(c, sub, limit = PAGE) {
  if (!state.caps.has("draft/chathistory") || c.kind === "server" || c.pending) return;
  const target = c.name;
  if (sub === "before") {
    const oldest = c.oldest();
    if (c.complete) return;
    send(`CHATHISTORY BEFORE ${target} ${oldest ? ref(oldest) : "timestamp=" + new Date().toISOString()} ${limit}`);
  } else if (sub === "after" && c.newest()) {
    send(`CHATHISTORY AFTER ${target} ${ref(c.newest())} ${Math.min(state.historyLimit, 100)}`);
  } else {
    sub = "latest";
    send(`CHATHISTORY LATEST ${target} * ${limit}`);
  }
  c.pending = sub;
  if (key(target) === state.current) renderLog();
}

/** Scrolled to the top: the page before the oldest line shown. */
export function older() {
  const c = current();
  if (c && !c.complete) ask(c, "before");
}

/** What the conversation lacks: everything after its newest line, or the latest page. */
function catchUp(c) {
  ask(c, c.newest() ? "after" : "latest");
}

/** With `draft/read-marker`, a fetched line after the account's read position is unread, wherever it was read. */
function unreadByMarker(c, line) {
  return c.readAt !== null && line.time > c.readAt;
}

/** The user has seen `c` up to its newest line: move the account's read marker there (a second later, once). */
export function markRead(c) {
  if (!state.caps.has("draft/read-marker") || !state.account || c.kind === "server" || !c.lines.length) return;
  const newest = c.lines[c.lines.length - 1].time;
  if (c.readAt !== null && newest <= c.readAt) return;
  clearTimeout(c.markTimer);
  c.markTimer = setTimeout(() => {
    if (c.readAt === null || newest > c.readAt) send(`MARKREAD ${c.name} timestamp=${newest.toISOString()}`);
  }, 1000);
}

function onMarkRead(msg, p) {
  const c = p[0] && find(p[0]);
  const at = /^timestamp=(.+)$/.exec(p[1] || "");
  if (!c || !at || isNaN(new Date(at[1]))) return;
  c.readAt = new Date(at[1]);
  const newest = c.lines[c.lines.length - 1];
  if (c.unread && newest && newest.time <= c.readAt) {  // read in another client meanwhile
    c.unread = 0;
    c.mentioned = false;
    renderConvs();
  }
}

function historyDone(batch) {
  const c = find(batch.target) || conv(batch.target);
  const asked = c.pending;
  c.pending = null;
  if (asked === "before") c.prepend(batch.lines);
  else for (const line of batch.lines) deliver(c, line, asked === "after" || unreadByMarker(c, line), true);
  if (asked === "before" || asked === "latest") c.complete = batch.lines.length < PAGE;
  if (asked === "after" && batch.lines.length >= Math.min(state.historyLimit, 100)) catchUp(c);
  renderConvs();
  if (key(c.name) === state.current) {
    renderLog(); // once for the whole batch
    if (!document.hidden) markRead(c);
  }
}

// --- what the server says ---

function splitPrefix(entry) {
  let i = 0;
  while (i < entry.length && state.prefixes.includes(entry[i])) i += 1;
  return [entry.slice(i), entry.slice(0, i)];
}

const namesDone = new Set();

function onMessage(msg) {
  const p = msg.params;
  const from = nickOf(msg.source);
  const me = key(from) === key(state.nick);
  const batch = msg.tags.batch && state.batches.get(msg.tags.batch);
  if (batch && (msg.command === "PRIVMSG" || msg.command === "NOTICE")) {
    const found = toLine(msg, from, me);
    if (found && batch.lines.length < MAX_BATCH_LINES) batch.lines.push(Object.assign(found.line, { history: true }));
    return;
  }
  const handler = HANDLERS[msg.command];
  if (handler) return handler(msg, p, from, me);
  if (/^[45]\d\d$/.test(msg.command)) {
    const text = p.slice(1).join(" ");
    if (!state.registered && ["432", "433"].includes(msg.command)) return nickRefused(text);
    if (msg.command === "421" && p[1] === "CHATHISTORY") return;
    return notice(text, "error");
  }
  if (/^\d\d\d$/.test(msg.command) && !QUIET.has(msg.command)) {
    const welcome = !state.registered || /^(00\d|25\d|26\d|37\d)$/.test(msg.command);
    notice(p.slice(1).join(" "), "event", welcome ? SERVER : null);
  }
}

const QUIET = new Set(["002", "003", "004", "005", "265", "266", "333", "353", "366", "318", "321", "322", "323", "329", "396"]);

function nickRefused(text) {
  if (state.attempt > 0 || state.reconnecting) {
    const base = state.nick.replace(/_+$/, "");
    state.nick = (base + "_".repeat(state.nick.length - base.length + 1)).slice(0, 30);
    return send(`NICK ${state.nick}`);
  }
  state.quitting = true;
  if (state.ws) state.ws.close();
  showLogin(text);
}

/** A PRIVMSG or NOTICE as a line and the conversation it belongs to; null for what is not shown. */
function toLine(msg, from, me) {
  const [target, raw = ""] = msg.params;
  const said = ctcp(raw);
  if (!said) return null;
  const serverish = fromServer(msg.source) || target === "*";
  let where = isChannel(target) ? target : me ? target : from;
  if (serverish) where = SERVER;
  const cls = said.action ? "action" : msg.command === "NOTICE" ? "notice" : "message";
  const line = {
    time: timeOf(msg), nick: serverish ? "" : from, text: said.text, cls, msgid: msg.tags.msgid, counts: true,
    self: me, mention: !me && isChannel(where) && mentions(said.text, state.nick),
  };
  return { where, line };
}

/** The server's own lines: its name as the source (a user's always has no dot: history gives just the nick). */
function fromServer(source) {
  return !source || source === state.server || (!source.includes("!") && source.includes("."));
}

function onPrivmsg(msg, p, from, me) {
  if (fromServer(msg.source) && !state.registered) return notice(p[1] || "", "event", SERVER);
  const found = toLine(msg, from, me);
  if (!found) return;
  const c = found.where === SERVER ? conv(SERVER, "server") : isChannel(found.where) ? conv(found.where) : query(found.where);
  deliver(c, found.line);
}

function registered(msg, p) {
  state.server = msg.source;
  state.nick = p[0];
  state.registered = true;
  if (state.reconnecting) notice("reconnected");
  state.reconnecting = false;
  state.attempt = 0;
  live();
  localStorage.setItem("multichat.nick", state.nick);
  notice(p[p.length - 1], "event", SERVER);
  for (const c of state.convs.values()) if (c.kind === "query") catchUp(c);
  if (state.awayText) send(`AWAY :${state.awayText}`);
}

function motdDone() {
  const channels = [...state.convs.values()].filter((c) => c.kind === "channel" && c.wanted && !c.joined);
  if (!state.convs.size || ![...state.convs.values()].some((c) => c.kind === "channel")) send("JOIN #lobby");
  else if (channels.length) send(`JOIN ${channels.map((c) => c.name).join(",")}`);
}

function onJoin(msg, p, from, me) {
  const c = conv(p[0], "channel");
  if (me) {
    c.members.clear();
    c.joined = c.wanted = true;
    if (state.joining.delete(key(p[0])) || state.current === key(SERVER) || !current()) select(p[0]);
    else renderConvs();
    catchUp(c);
  } else {
    c.members.set(from, { prefix: "", away: "" });
    event(c, msg, `${from} joined`);
    if (key(p[0]) === state.current) renderMembers();
  }
}

function onLeave(msg, p, from) {
  const kick = msg.command === "KICK";
  const gone = kick ? p[1] : from;
  const reason = p[kick ? 2 : 1];
  const c = find(p[0]);
  if (!c) return;
  const what = kick ? `${gone} was kicked by ${from}` : `${gone} left`;
  if (key(gone) === key(state.nick)) {
    c.joined = c.wanted = false;
    c.members.clear();
    if (kick) event(c, msg, reason ? `you were kicked by ${from} (${reason})` : `you were kicked by ${from}`);
    else forget(p[0]);
    renderConvs();
    renderMembers();
  } else {
    c.members.delete(gone);
    event(c, msg, reason ? `${what} (${reason})` : what);
    if (key(p[0]) === state.current) renderMembers();
  }
}

function onQuit(msg, p, from) {
  for (const c of state.convs.values()) {
    if (c.members.delete(from) || (c.kind === "query" && key(c.name) === key(from))) {
      event(c, msg, p[0] ? `${from} quit (${p[0]})` : `${from} quit`);
    }
  }
  renderMembers();
}

function onNick(msg, p, from, me) {
  const now = p[0];
  if (me) state.nick = now;
  for (const c of state.convs.values()) {
    if (c.members.has(from)) {
      c.members.set(now, c.members.get(from));
      c.members.delete(from);
      event(c, msg, `${from} is now known as ${now}`);
    }
  }
  const query = find(from);
  if (query && query.kind === "query" && !find(now)) {
    state.convs.delete(key(from));
    query.name = now;
    state.convs.set(key(now), query);
    if (state.current === key(from)) state.current = key(now);
  }
  if (me) {
    live();
    localStorage.setItem("multichat.nick", now);
    notice(`you are now known as ${now}`);
  }
  renderAll();
}

function onTopic(msg, p, from) {
  const c = conv(p[0], "channel");
  c.topic = p[1] || "";
  event(c, msg, c.topic ? `${from} set the topic: ${c.topic}` : `${from} cleared the topic`);
  if (key(p[0]) === state.current) renderHeader();
}

function onNames(msg, p) {
  const c = conv(p[2], "channel");
  if (namesDone.has(key(p[2]))) {
    namesDone.delete(key(p[2]));
    c.members.clear();
  }
  for (const entry of (p[3] || "").split(" ").filter(Boolean)) {
    const [nick, prefix] = splitPrefix(nickOf(entry));
    c.members.set(nick, { prefix, away: c.members.get(nick)?.away || "" });
  }
}

function onMode(msg, p, from) {
  if (isChannel(p[0])) {
    const c = find(p[0]);
    if (!c) return;
    event(c, msg, `${from} set mode ${p.slice(1).join(" ")}`);
    send(`NAMES ${p[0]}`); // the simplest way to see the new @ and +
  } else if (key(p[0]) === key(state.nick)) {
    const modes = p[1] || "";
    if (/^\+[^-]*o/.test(modes)) state.oper = true;
    if (/^-[^+]*o/.test(modes)) state.oper = false;
    renderConvs();
  }
}

function onAway(msg, p, from) {
  for (const c of state.convs.values()) {
    const member = c.members.get(from);
    if (member) member.away = p[0] || "";
  }
  renderMembers();
}

function onCap(msg, p) {
  const sub = (p[1] || "").toUpperCase();
  if (sub === "LS") {
    const more = p[2] === "*";
    for (const word of (more ? p[3] : p[2]).split(" ").filter(Boolean)) {
      const eq = word.indexOf("=");
      state.available.set(eq < 0 ? word : word.slice(0, eq), eq < 0 ? "" : word.slice(eq + 1));
    }
    if (more) return;
    const want = WANTED_CAPS.concat(state.password ? ["sasl"] : []).filter((c) => state.available.has(c));
    if (state.password && !want.includes("sasl")) notice("this server offers no SASL: not logged in", "error");
    if (want.length) send(`CAP REQ :${want.join(" ")}`);
    else send("CAP END");
  } else if (sub === "ACK") {
    for (const c of p[2].split(" ").filter(Boolean)) state.caps.add(c);
    if (state.caps.has("sasl") && state.password) send("AUTHENTICATE PLAIN");
    else send("CAP END");
  } else if (sub === "NAK") {
    send("CAP END");
  }
}

function onIsupport(msg, p) {
  for (const token of p.slice(1, -1)) {
    const prefix = /^PREFIX=\(([^)]*)\)(.*)$/.exec(token);
    if (prefix) state.prefixes = prefix[2];
    const history = /^CHATHISTORY=(\d+)$/.exec(token);
    if (history) state.historyLimit = Number(history[1]) || 100;
  }
}

function onBatch(msg, p) {
  const [ref = "", type = "", target = ""] = p;
  if (ref.startsWith("+")) {
    if (state.batches.size >= MAX_BATCHES) state.batches.delete(state.batches.keys().next().value); // the oldest
    state.batches.set(ref.slice(1), { type, target, lines: [] });
  }
  else if (ref.startsWith("-")) {
    const batch = state.batches.get(ref.slice(1));
    state.batches.delete(ref.slice(1));
    if (batch && batch.type === "chathistory") historyDone(batch);
  }
}

function onFail(msg, p) {
  if (p[0] === "CHATHISTORY") {
    const c = p[3] && find(p[3]);
    if (c) {
      c.pending = null;
      c.complete = true; // no history here (private messages are stored only with --store-pms)
      if (key(c.name) === state.current) renderLog();
      if (p[1] === "INVALID_TARGET") return;
    }
  }
  notice(`${p.slice(0, -1).join(" ")}: ${p[p.length - 1]}`, "error");
}

function whois(text) {
  return (msg, p) => notice(text(p), "event");
}

const saslDone = (msg, p) => {
  if (msg.command !== "903") notice(p[p.length - 1], "error", SERVER);
  send("CAP END");
};

const HANDLERS = {
  PING: (msg, p) => send(`PONG :${p[0] || ""}`),
  CAP: onCap,
  AUTHENTICATE: (msg, p) => {
    if (p[0] !== "+") return;
    const bytes = new TextEncoder().encode(`\0${state.nick}\0${state.password}`);
    send(`AUTHENTICATE ${btoa(String.fromCharCode(...bytes))}`);
  },
  900: (msg, p) => {
    state.account = p[2] || null;
    notice(p[p.length - 1], "event", SERVER);
  },
  901: () => { state.account = null; },
  MARKREAD: onMarkRead,
  903: saslDone, 904: saslDone, 905: saslDone, 906: saslDone, 907: saslDone,
  "001": registered,
  "005": onIsupport,
  376: motdDone, 422: motdDone,
  PRIVMSG: onPrivmsg, NOTICE: onPrivmsg,
  JOIN: onJoin, PART: onLeave, KICK: onLeave, QUIT: onQuit, NICK: onNick,
  TOPIC: onTopic,
  331: (msg, p) => { conv(p[1], "channel").topic = ""; renderHeader(); },
  332: (msg, p) => { conv(p[1], "channel").topic = p[2] || ""; renderHeader(); },
  353: onNames,
  366: (msg, p) => { namesDone.add(key(p[1])); if (key(p[1]) === state.current) renderMembers(); },
  MODE: onMode,
  AWAY: onAway,
  BATCH: onBatch,
  FAIL: onFail,
  ERROR: (msg, p) => notice(p[0] || "closed", "error"),
  381: (msg, p) => { state.oper = true; notice(p[p.length - 1]); renderConvs(); },
  305: (msg, p) => { state.away = false; live(); notice(p[p.length - 1]); },
  306: (msg, p) => { state.away = true; live(); notice(p[p.length - 1]); },
  301: whois((p) => `${p[1]} is away: ${p[2] || ""}`),
  311: whois((p) => `${p[1]} is ${p[2]}@${p[3]} (${p[5] || ""})`),
  312: whois((p) => `${p[1]} is on ${p[2]}`),
  313: whois((p) => `${p[1]} is a server operator`),
  317: whois((p) => `${p[1]} has been idle ${p[2]} s`),
  319: whois((p) => `${p[1]} is in ${p[2] || "no channels"}`),
  330: whois((p) => `${p[1]} is logged in as ${p[2]}`),
  321: () => { state.channelList = []; },
  322: (msg, p) => {
    const rows = (state.channelList ||= []);
    if (rows.length < MAX_LIST_ROWS) rows.push({ name: p[1], users: Number(p[2]) || 0, topic: p[3] || "" });
  },
  323: () => {
    const dialog = $("channels");
    state.lastList = state.channelList || [];
    state.channelList = null;
    renderChannelList(state.lastList);
    if (!dialog.open) dialog.showModal();
  },
};

// --- connecting and reconnecting ---

function live() {
  setStatus("live", `connected as ${state.nick}${state.away ? " (away)" : ""}`);
}

/** What the page needs from `/api/config` (read anew at each connect: a restarted server may differ). */
export async function serverConfig() {
  const answer = await fetch("/api/config", { cache: "no-store" });
  if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
  return answer.json();
}

export async function connect(nick, password) {
  Object.assign(state, { nick, password, quitting: false, attempt: 0, reconnecting: false });
  state.convs.clear();
  conv(SERVER, "server");
  state.current = key(SERVER);
  $("login").hidden = true;
  $("chat").hidden = false;
  renderAll();
  await open();
}

async function open() {
  setStatus("", "connecting");
  let config;
  try {
    config = await serverConfig();
  } catch (error) {
    return retry(`cannot reach the server (${error.message})`);
  }
  if (!config.irc_ws_port) {
    state.quitting = true;
    return showLogin("this server has no IRC WebSocket (see --irc-ws-port)");
  }
  Object.assign(state, { caps: new Set(), available: new Map(), registered: false, batches: new Map(), account: null, away: false });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  const ws = new WebSocket(`${scheme}://${host}:${config.irc_ws_port}/`, ["text.ircv3.net"]);
  state.ws = ws;
  ws.addEventListener("open", () => {
    send("CAP LS 302");
    send(`NICK ${state.nick}`);
    send(`USER ${state.nick} 0 * :${state.nick}`);
  });
  ws.addEventListener("message", (e) => {
    if (typeof e.data === "string" && state.ws === ws) onMessage(parse(e.data));
  });
  ws.addEventListener("close", () => {
    if (state.ws !== ws) return;
    state.ws = null;
    lost();
  });
}

/** The connection went: every channel is left until joined again, then the session comes back by itself. */
function lost() {
  for (const c of state.convs.values()) {
    c.joined = false;
    c.pending = null;
    c.members.clear();
  }
  state.registered = false;
  renderConvs();
  renderMembers();
  if (state.quitting) {
    setStatus("down", "disconnected");
    if ($("login").hidden) showLogin("You left the chat.");
    return;
  }
  retry("disconnected from the server");
}

let retryTimer = null;

function retry(why) {
  if (retryTimer) return;
  const delay = Math.min(RETRY_MAX, RETRY_FIRST * 2 ** state.attempt) * (1 - Math.random() / 3);
  state.attempt += 1;
  state.reconnecting = true;
  setStatus("down", `reconnecting in ${Math.ceil(delay / 1000)} s`);
  if (state.attempt === 1) notice(`${why}: reconnecting…`, "error");
  retryTimer = setTimeout(() => {
    retryTimer = null;
    open();
  }, delay);
}

/** Try again now (the network is back, or the user asked). */
export function reconnectNow() {
  if (!retryTimer) return;
  clearTimeout(retryTimer);
  retryTimer = null;
  open();
}

export function quit(reason) {
  state.quitting = true;
  send(reason ? `QUIT :${reason}` : "QUIT");
}
