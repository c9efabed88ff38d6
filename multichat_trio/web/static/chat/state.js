// What the page knows: the connection's settings and the conversations (channels, private ones, the server's).
import { isChannel, key } from "./irc.js";

export const SERVER = "*server*";
/** Lines kept per conversation; older ones can be fetched again by scrolling up. */
export const MAX_LINES = 2000;

export const state = {
  ws: null,
  nick: "",
  server: "", // the server's name, the source of its own lines
  password: "",
  caps: new Set(),
  available: new Map(), // cap name -> value, from CAP LS
  prefixes: "@+", // ISUPPORT PREFIX symbols, highest first
  historyLimit: 100, // ISUPPORT CHATHISTORY
  convs: new Map(), // casefolded name -> Conversation
  current: key(SERVER),
  registered: false,
  oper: false,
  account: null, // the account logged in to (900), for read markers
  away: false,
  awayText: "", // what /away said, said again after a reconnect
  quitting: false, // the user left: no reconnecting
  attempt: 0, // reconnect attempts since the last success
  batches: new Map(), // open BATCH reference -> { type, target, lines }
  channelList: null, // rows collected from LIST until 323
  joining: new Set(), // channels the user asked to join: shown once joined
  lastList: [], // the rows of the last complete LIST
};

export class Conversation {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind; // "channel", "query" or "server"
    this.lines = [];
    this.ids = new Set(); // msgids shown, so history never shows a message twice
    this.unread = 0;
    this.mentioned = false;
    this.firstUnread = null; // the line the "new messages" marker goes before
    this.topic = "";
    this.members = new Map(); // nick -> { prefix, away }
    this.joined = false;
    this.wanted = false; // joined again after a reconnect
    this.complete = false; // no older history to fetch
    this.pending = null; // the CHATHISTORY request awaiting its batch: "latest", "before" or "after"
    this.readAt = null; // the account's read marker here (draft/read-marker), a Date
    this.markTimer = null;
  }

  /** Adds `line`: live ones at the end, history (`sorted`) at its place in time; false for a msgid already here. */
  add(line, sorted = false) {
    if (!this.fresh(line)) return false;
    let at = this.lines.length;
    while (sorted && at > 0 && this.lines[at - 1].time > line.time) at -= 1;
    this.lines.splice(at, 0, line);
    if (this.lines.length > MAX_LINES) this.forgetOldest();
    return true;
  }

  /** Older history, oldest first, put before everything shown (as much as MAX_LINES leaves room for). */
  prepend(lines) {
    const room = Math.max(0, MAX_LINES - this.lines.length);
    const fresh = lines.filter((line) => !line.msgid || !this.ids.has(line.msgid)).slice(-room || lines.length);
    if (!room) return;
    for (const line of fresh) this.fresh(line);
    this.lines.unshift(...fresh);
  }

  fresh(line) {
    if (!line.msgid) return true;
    if (this.ids.has(line.msgid)) return false;
    this.ids.add(line.msgid);
    return true;
  }

  forgetOldest() {
    const gone = this.lines.shift();
    if (gone.msgid) this.ids.delete(gone.msgid);
    this.complete = false;
  }

  /** The oldest and newest lines that history can start from. */
  oldest() {
    return this.lines.find((line) => line.msgid) || null;
  }

  newest() {
    for (let i = this.lines.length - 1; i >= 0; i -= 1) if (this.lines[i].msgid) return this.lines[i];
    return null;
  }
}

export function find(name) {
  return state.convs.get(key(name)) || null;
}

/** The conversation named `name`, made when new. */
export function conv(name, kind = isChannel(name) ? "channel" : "query") {
  let c = find(name);
  if (!c) {
    c = new Conversation(name, kind);
    state.convs.set(key(name), c);
  }
  return c;
}

export function current() {
  return state.convs.get(state.current) || null;
}

/** The conversation a command typed here acts on: none in the server's. */
export function here() {
  const c = current();
  return c && c.kind !== "server" ? c : null;
}
