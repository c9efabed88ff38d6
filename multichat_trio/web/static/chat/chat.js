// The web chat client: an IRC client over the server's IRCv3 WebSocket (one line per message).
// Every string from the network is rendered with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const WANTED_CAPS = ["server-time", "echo-message", "multi-prefix"];
const MAX_LINES = 500;
const SERVER = "*server*";

const state = {
  ws: null,
  nick: "",
  password: "",
  caps: new Set(),
  available: [],
  prefixes: "@+", // from ISUPPORT PREFIX, highest first
  convs: new Map(), // key: casefolded name
  current: SERVER,
  registered: false,
};

function key(name) {
  return name.toLowerCase();
}

function isChannel(name) {
  return name.length > 0 && "#&".includes(name[0]);
}

function nickOf(source) {
  const bang = source.indexOf("!");
  return bang < 0 ? source : source.slice(0, bang);
}

// --- the IRC line (tags, source, command, params) ---

function unescapeTag(value) {
  const map = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };
  return value.replace(/\\(.?)/g, (_, c) => (c in map ? map[c] : c));
}

function parse(line) {
  const msg = { tags: {}, source: "", command: "", params: [] };
  let rest = line;
  const next = () => {
    const space = rest.indexOf(" ");
    const word = space < 0 ? rest : rest.slice(0, space);
    rest = space < 0 ? "" : rest.slice(space + 1).replace(/^ +/, "");
    return word;
  };
  if (rest.startsWith("@")) {
    for (const pair of next().slice(1).split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) msg.tags[pair] = "";
      else msg.tags[pair.slice(0, eq)] = unescapeTag(pair.slice(eq + 1));
    }
  }
  if (rest.startsWith(":")) msg.source = next().slice(1);
  msg.command = next().toUpperCase();
  while (rest.length) {
    if (rest.startsWith(":")) {
      msg.params.push(rest.slice(1));
      break;
    }
    msg.params.push(next());
  }
  return msg;
}

function send(line) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(line);
}

// --- conversations ---

function conv(name, kind) {
  const k = key(name);
  let c = state.convs.get(k);
  if (!c) {
    c = { name, kind, lines: [], unread: 0, topic: "", members: new Map() };
    state.convs.set(k, c);
    renderConvs();
  }
  return c;
}

function addLine(name, kind, line) {
  const c = conv(name, kind);
  c.lines.push(line);
  if (c.lines.length > MAX_LINES) c.lines.shift();
  if (key(name) === state.current) {
    appendRow(line);
  } else if (line.counts) {
    c.unread += 1;
    renderConvs();
  }
}

function notice(text, cls = "event", name = null) {
  const target = name && state.convs.has(key(name)) ? name : state.convs.get(state.current)?.name || SERVER;
  addLine(target, target === SERVER ? "server" : "channel", { time: new Date(), nick: "", text, cls });
}

function select(name) {
  const c = state.convs.get(key(name));
  if (!c) return;
  state.current = key(name);
  c.unread = 0;
  $("chat").classList.remove("show-convs", "show-members");
  renderAll();
}

// --- rendering (textContent only) ---

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function appendRow(line) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const row = el("li", line.cls);
  const time = el("time", "time", line.time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = line.time.toISOString();
  row.append(time);
  if (line.cls === "action") {
    row.append(el("span", "text", `* ${line.nick} ${line.text}`));
  } else {
    if (line.nick) row.append(el("span", "nick", line.nick));
    row.append(el("span", "text", line.text));
  }
  log.append(row);
  while (log.childElementCount > MAX_LINES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function renderConvs() {
  const list = $("convs");
  list.replaceChildren();
  for (const [k, c] of state.convs) {
    const item = el("li", k === state.current ? "current" : "");
    item.dataset.name = c.name;
    item.append(el("span", "name", c.name === SERVER ? "server" : c.name));
    if (c.unread) item.append(el("span", "unread", String(c.unread)));
    item.addEventListener("click", () => select(c.name));
    list.append(item);
  }
}

function rank(prefix) {
  const i = state.prefixes.indexOf(prefix[0] || "");
  return i < 0 ? state.prefixes.length : i;
}

function renderMembers() {
  const c = state.convs.get(state.current);
  const list = $("member-list");
  list.replaceChildren();
  const members = c && c.kind === "channel" ? [...c.members] : [];
  members.sort(([a, pa], [b, pb]) => rank(pa) - rank(pb) || a.localeCompare(b));
  for (const [nick, prefix] of members) {
    const item = el("li", "member");
    item.append(el("span", "prefix", prefix.slice(0, 1)), el("span", "nick", nick));
    item.addEventListener("click", () => {
      conv(nick, "query");
      select(nick);
    });
    list.append(item);
  }
  $("toggle-members").textContent = `${members.length} members`;
  $("toggle-members").hidden = !(c && c.kind === "channel");
  $("members").classList.toggle("empty", !members.length);
}

function renderAll() {
  const c = state.convs.get(state.current);
  $("title").textContent = c ? (c.name === SERVER ? "server" : c.name) : "";
  $("topic").textContent = c ? c.topic : "";
  $("topic").title = c ? c.topic : "";
  $("log").replaceChildren();
  if (c) for (const line of c.lines) appendRow(line);
  $("log").scrollTop = $("log").scrollHeight;
  renderConvs();
  renderMembers();
}

// --- what the server says ---

function lineTime(msg) {
  const t = msg.tags.time ? new Date(msg.tags.time) : new Date();
  return isNaN(t) ? new Date() : t;
}

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
  switch (msg.command) {
    case "PING":
      send(`PONG :${p[0] || ""}`);
      break;
    case "CAP":
      onCap(p);
      break;
    case "AUTHENTICATE":
      if (p[0] === "+") {
        const bytes = new TextEncoder().encode(`\0${state.nick}\0${state.password}`);
        send(`AUTHENTICATE ${btoa(String.fromCharCode(...bytes))}`);
      }
      break;
    case "900":
      notice(p[p.length - 1]);
      break;
    case "903":
    case "904":
    case "905":
    case "906":
    case "907":
      if (msg.command !== "903") notice(p[p.length - 1], "error");
      send("CAP END");
      break;
    case "001":
      state.nick = p[0];
      state.registered = true;
      setStatus("live", `connected as ${state.nick}`);
      notice(p[p.length - 1]);
      break;
    case "005":
      for (const token of p.slice(1, -1)) {
        const m = /^PREFIX=\(([^)]*)\)(.*)$/.exec(token);
        if (m) state.prefixes = m[2];
      }
      break;
    case "376":
    case "422":
      if (![...state.convs.values()].some((c) => c.kind === "channel")) send("JOIN #lobby");
      break;
    case "PRIVMSG":
    case "NOTICE":
      onPrivmsg(msg, from, me);
      break;
    case "JOIN": {
      const c = conv(p[0], "channel");
      if (me) {
        c.members.clear();
        select(p[0]);
      } else {
        c.members.set(from, "");
        addLine(p[0], "channel", { time: lineTime(msg), nick: "", text: `${from} joined`, cls: "event" });
        if (key(p[0]) === state.current) renderMembers();
      }
      break;
    }
    case "PART":
    case "KICK": {
      const gone = msg.command === "KICK" ? p[1] : from;
      const why = msg.command === "KICK" ? `${gone} was kicked by ${from}` : `${gone} left`;
      const reason = p[msg.command === "KICK" ? 2 : 1];
      if (key(gone) === key(state.nick)) {
        state.convs.delete(key(p[0]));
        if (state.current === key(p[0])) state.current = SERVER;
        notice(reason ? `${why} ${p[0]} (${reason})` : `${why} ${p[0]}`, "event", SERVER);
        renderAll();
      } else if (state.convs.has(key(p[0]))) {
        const c = state.convs.get(key(p[0]));
        c.members.delete(gone);
        addLine(p[0], "channel", { time: lineTime(msg), nick: "", text: reason ? `${why} (${reason})` : why, cls: "event" });
        if (key(p[0]) === state.current) renderMembers();
      }
      break;
    }
    case "QUIT":
      for (const c of state.convs.values()) {
        if (c.members.delete(from) || key(c.name) === key(from)) {
          const text = p[0] ? `${from} quit (${p[0]})` : `${from} quit`;
          addLine(c.name, c.kind, { time: lineTime(msg), nick: "", text, cls: "event" });
        }
      }
      renderMembers();
      break;
    case "NICK": {
      const now = p[0];
      if (me) state.nick = now;
      for (const c of state.convs.values()) {
        if (c.members.has(from)) {
          c.members.set(now, c.members.get(from));
          c.members.delete(from);
          addLine(c.name, c.kind, { time: lineTime(msg), nick: "", text: `${from} is now known as ${now}`, cls: "event" });
        }
      }
      const query = state.convs.get(key(from));
      if (query && query.kind === "query" && !state.convs.has(key(now))) {
        state.convs.delete(key(from));
        query.name = now;
        state.convs.set(key(now), query);
        if (state.current === key(from)) state.current = key(now);
      }
      if (me) {
        setStatus("live", `connected as ${now}`);
        notice(`you are now known as ${now}`);
      }
      renderAll();
      break;
    }
    case "TOPIC": {
      const c = conv(p[0], "channel");
      c.topic = p[1] || "";
      addLine(p[0], "channel", { time: lineTime(msg), nick: "", text: `${from} set the topic: ${c.topic}`, cls: "event" });
      if (key(p[0]) === state.current) renderAll();
      break;
    }
    case "331":
    case "332": {
      const c = conv(p[1], "channel");
      c.topic = msg.command === "332" ? p[2] || "" : "";
      if (key(p[1]) === state.current) renderAll();
      break;
    }
    case "353": {
      const c = conv(p[2], "channel");
      if (namesDone.has(key(p[2]))) {
        namesDone.delete(key(p[2]));
        c.members.clear();
      }
      for (const entry of (p[3] || "").split(" ").filter(Boolean)) {
        const [nick, prefix] = splitPrefix(entry);
        c.members.set(nick, prefix);
      }
      break;
    }
    case "366":
      namesDone.add(key(p[1]));
      if (key(p[1]) === state.current) renderMembers();
      break;
    case "MODE":
      if (isChannel(p[0])) {
        addLine(p[0], "channel", { time: lineTime(msg), nick: "", text: `${from} set mode ${p.slice(1).join(" ")}`, cls: "event" });
        send(`NAMES ${p[0]}`); // the simplest way to see the new @ and +
      }
      break;
    case "FAIL":
      notice(`${p.slice(0, -1).join(" ")}: ${p[p.length - 1]}`, "error");
      break;
    case "ERROR":
      notice(p[0] || "closed", "error");
      break;
    default:
      if (/^[45]\d\d$/.test(msg.command)) {
        const text = p.slice(1).join(" ");
        if (!state.registered && (msg.command === "433" || msg.command === "432")) {
          showLogin(text);
        } else {
          notice(text, "error");
        }
      } else if (/^\d\d\d$/.test(msg.command) && !["002", "003", "004", "005", "333", "353", "366"].includes(msg.command)) {
        notice(p.slice(1).join(" "), "event", SERVER);
      }
  }
}

function onCap(p) {
  const sub = (p[1] || "").toUpperCase();
  if (sub === "LS") {
    const more = p[2] === "*";
    state.available.push(...(more ? p[3] : p[2]).split(" ").map((c) => c.split("=")[0]));
    if (more) return;
    const want = WANTED_CAPS.concat(state.password ? ["sasl"] : []).filter((c) => state.available.includes(c));
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

function onPrivmsg(msg, from, me) {
  const [target, raw = ""] = msg.params;
  if (!msg.source.includes("!") && !state.registered) {
    notice(raw, "event", SERVER); // a server notice before registration
    return;
  }
  let text = raw;
  let cls = msg.command === "NOTICE" ? "notice" : "message";
  const action = /^\x01ACTION ?(.*?)\x01?$/.exec(raw);
  if (action) {
    text = action[1];
    cls = "action";
  } else if (raw.startsWith("\x01")) {
    return; // other CTCP: not shown
  }
  let where = target;
  if (!isChannel(target)) where = me ? target : from;
  if (!msg.source.includes("!") || where === "*") where = SERVER;
  const kind = where === SERVER ? "server" : isChannel(where) ? "channel" : "query";
  addLine(where, kind, { time: lineTime(msg), nick: from, text, cls, counts: true });
}

// --- what the user types ---

function say(target, text, action = false) {
  const line = action ? `\x01ACTION ${text}\x01` : text;
  send(`PRIVMSG ${target} :${line}`);
  if (!state.caps.has("echo-message")) {
    const kind = isChannel(target) ? "channel" : "query";
    addLine(target, kind, { time: new Date(), nick: state.nick, text, cls: action ? "action" : "message" });
  }
}

function onInput(text) {
  const c = state.convs.get(state.current);
  const here = c && c.name !== SERVER ? c.name : null;
  if (!text.startsWith("/") || text.startsWith("//")) {
    if (!here) return notice("join a channel first: /join #name", "error");
    return say(here, text.startsWith("//") ? text.slice(1) : text);
  }
  const [, command, rest = ""] = /^\/(\S+)\s*(.*)$/.exec(text) || [];
  const args = rest.split(" ").filter(Boolean);
  switch ((command || "").toLowerCase()) {
    case "join":
      if (!args[0]) return notice("usage: /join #channel", "error");
      return send(`JOIN ${args[0]}`);
    case "part": {
      const channel = args[0] && isChannel(args[0]) ? args.shift() : here;
      if (!channel || !isChannel(channel)) return notice("usage: /part #channel [reason]", "error");
      return send(args.length ? `PART ${channel} :${args.join(" ")}` : `PART ${channel}`);
    }
    case "msg":
    case "query": {
      const [nick, ...words] = args;
      if (!nick) return notice("usage: /msg nick text", "error");
      conv(nick, isChannel(nick) ? "channel" : "query");
      select(nick);
      if (words.length) say(nick, rest.slice(rest.indexOf(nick) + nick.length).trim());
      return;
    }
    case "me":
      if (!here) return notice("join a channel first: /join #name", "error");
      return say(here, rest, true);
    case "nick":
      if (!args[0]) return notice("usage: /nick newname", "error");
      return send(`NICK ${args[0]}`);
    case "topic":
      if (!here || !isChannel(here)) return notice("/topic works in a channel", "error");
      return send(rest ? `TOPIC ${here} :${rest}` : `TOPIC ${here}`);
    case "quit":
      return send(rest ? `QUIT :${rest}` : "QUIT");
    default:
      return notice(`unknown command /${command || ""}: try /join /part /msg /me /nick /topic /quit`, "error");
  }
}

// --- connecting ---

function setStatus(cls, text) {
  $("status").className = cls;
  $("status").textContent = text;
}

function showLogin(error) {
  if (state.ws) state.ws.close();
  state.ws = null;
  $("chat").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = error;
}

async function connect(nick, password) {
  let config;
  try {
    const answer = await fetch("/api/config", { cache: "no-store" });
    config = await answer.json();
  } catch (error) {
    return showLogin(`cannot read the server's settings: ${error}`);
  }
  if (!config.irc_ws_port) return showLogin("this server has no IRC WebSocket (see --irc-ws-port)");
  Object.assign(state, { nick, password, caps: new Set(), available: [], convs: new Map(), current: SERVER, registered: false });
  conv(SERVER, "server");
  $("login").hidden = true;
  $("chat").hidden = false;
  renderAll();
  setStatus("", "connecting");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  const ws = new WebSocket(`${scheme}://${host}:${config.irc_ws_port}/`, "text.ircv3.net");
  state.ws = ws;
  ws.addEventListener("open", () => {
    send("CAP LS 302");
    send(`NICK ${nick}`);
    send(`USER ${nick} 0 * :${nick}`);
  });
  ws.addEventListener("message", (event) => {
    if (typeof event.data === "string") onMessage(parse(event.data));
  });
  ws.addEventListener("close", () => {
    if (state.ws !== ws) return;
    setStatus("down", "disconnected");
    notice("disconnected from the server: reload the page to connect again", "error");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = $("nick").value.trim();
    if (!/^[^\s:#&,*?!@][^\s,*?!@]*$/.test(nick)) {
      $("login-error").textContent = "a nickname has no spaces and does not start with : # or &";
      return;
    }
    $("login-error").textContent = "";
    connect(nick, $("password").value);
  });
  $("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("input").value;
    $("input").value = "";
    if (text.trim()) onInput(text);
  });
  $("toggle-convs").addEventListener("click", () => $("chat").classList.toggle("show-convs"));
  $("toggle-members").addEventListener("click", () => $("chat").classList.toggle("show-members"));
});
