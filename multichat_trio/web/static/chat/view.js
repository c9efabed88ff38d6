// Drawing the page from the state. Every string from the network goes in as textContent, never as HTML.
import { colourOf, key } from "./irc.js";
import { SERVER, current, state } from "./state.js";

export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

const label = (c) => (c.name === SERVER ? "server" : c.name);
const sameDay = (a, b) => a.toDateString() === b.toDateString();

function dayName(time) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (sameDay(time, today)) return "Today";
  if (sameDay(time, yesterday)) return "Yesterday";
  return time.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

function row(line) {
  const item = el("li", `line ${line.cls}${line.mention ? " mention" : ""}`);
  if (line.msgid) item.dataset.msgid = line.msgid;
  const time = el("time", "time", line.time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = line.time.toISOString();
  time.title = line.time.toLocaleString();
  item.append(time);
  if (line.cls === "action") {
    item.append(el("span", "text", "* "), el("span", `nick ${colourOf(line.nick)}`, line.nick));
    item.append(el("span", "text", ` ${line.text}`));
  } else {
    if (line.nick) item.append(el("span", `nick ${colourOf(line.nick)}`, line.nick));
    item.append(el("span", "text", line.text));
  }
  return item;
}

const dayRow = (time) => el("li", "day", dayName(time));
const markerRow = () => el("li", "new-marker", "new messages");

function topRow(c) {
  if (c.kind === "server" || !state.caps.has("draft/chathistory")) return null;
  if (c.complete) return el("li", "history-top", `This is the start of ${label(c)}.`);
  return el("li", "history-top", c.pending === "before" ? "loading older messages…" : "scroll up for older messages");
}

/** The whole message list of the current conversation, keeping the view where it was (from the bottom). */
export function renderLog() {
  const log = $("log");
  const c = current();
  const fromBottom = log.scrollHeight - log.scrollTop;
  const stuck = fromBottom - log.clientHeight < 40;
  const rows = [];
  const top = c && topRow(c);
  if (top) rows.push(top);
  let previous = null;
  for (const line of c ? c.lines : []) {
    if (!previous || !sameDay(previous.time, line.time)) rows.push(dayRow(line.time));
    if (line === c.firstUnread) rows.push(markerRow());
    rows.push(row(line));
    previous = line;
  }
  log.replaceChildren(...rows);
  log.scrollTop = stuck ? log.scrollHeight : log.scrollHeight - fromBottom;
}

/** A line just added to `c`: appended when it is the newest, else the list is drawn again. */
export function showLine(c, line) {
  if (key(c.name) !== state.current) return renderConvs();
  if (c.lines[c.lines.length - 1] !== line || line === c.firstUnread) return renderLog();
  const log = $("log");
  const stuck = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const before = c.lines[c.lines.length - 2];
  if (!before || !sameDay(before.time, line.time)) log.append(dayRow(line.time));
  log.append(row(line));
  while (log.childElementCount > c.lines.length + 40) log.firstElementChild.remove();
  if (stuck || line.self) log.scrollTop = log.scrollHeight;
}

export function renderConvs() {
  const list = $("convs");
  list.replaceChildren();
  for (const [k, c] of state.convs) {
    const item = el("li", `${c.kind}${k === state.current ? " current" : ""}${c.joined || c.kind !== "channel" ? "" : " parted"}`);
    item.dataset.name = c.name;
    item.append(el("span", "name", label(c)));
    if (c.unread) item.append(el("span", c.mentioned ? "unread mentioned" : "unread", String(c.unread)));
    list.append(item);
  }
  const unread = [...state.convs.values()].reduce((sum, c) => sum + (c.mentioned ? c.unread : 0), 0);
  document.title = unread ? `(${unread}) MultiChat` : "MultiChat";
  $("toggle-convs").classList.toggle("unread", [...state.convs.values()].some((c) => c.unread && key(c.name) !== state.current));
  $("monitor-link").hidden = !state.oper;
}

function rank(prefix) {
  const i = state.prefixes.indexOf(prefix[0] || "");
  return i < 0 ? state.prefixes.length : i;
}

export function renderMembers() {
  const c = current();
  const list = $("member-list");
  const members = c && c.kind === "channel" ? [...c.members] : [];
  members.sort(([a, ma], [b, mb]) => rank(ma.prefix) - rank(mb.prefix) || a.localeCompare(b));
  list.replaceChildren();
  for (const [nick, member] of members) {
    const item = el("li", member.away ? "member away" : "member");
    item.dataset.nick = nick;
    if (member.away) item.title = `away: ${member.away}`;
    item.append(el("span", "prefix", member.prefix.slice(0, 1)), el("span", `nick ${colourOf(nick)}`, nick));
    list.append(item);
  }
  $("toggle-members").textContent = `${members.length} members`;
  $("toggle-members").hidden = !(c && c.kind === "channel");
  $("members").classList.toggle("empty", !members.length);
}

export function renderHeader() {
  const c = current();
  $("title").textContent = c ? label(c) : "";
  $("topic").textContent = c ? c.topic : "";
  $("topic").title = c ? c.topic : "";
  $("input").placeholder = c && c.kind !== "server" ? `Message ${c.name}` : "Type /join #channel or /help";
}

export function renderAll() {
  renderHeader();
  renderConvs();
  renderMembers();
  $("log").scrollTop = $("log").scrollHeight;
  renderLog();
}

export function setStatus(cls, text) {
  $("status").className = cls;
  $("status").textContent = text;
}

export function showLogin(error) {
  $("chat").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = error;
}

/** The channel list (LIST's rows), filtered by what the user types; a click joins. */
export function renderChannelList(rows) {
  const filter = key($("channel-filter").value.trim());
  const list = $("channel-rows");
  list.replaceChildren();
  const shown = rows.filter((r) => !filter || key(r.name).includes(filter) || key(r.topic).includes(filter));
  shown.sort((a, b) => b.users - a.users || a.name.localeCompare(b.name));
  for (const r of shown) {
    const item = el("li", "channel-row");
    item.dataset.name = r.name;
    item.append(el("span", "name", r.name), el("span", "users", `${r.users}`), el("span", "topic", r.topic));
    list.append(item);
  }
  if (!shown.length) list.append(el("li", "empty", rows.length ? "no channel matches" : "no channels yet"));
}
