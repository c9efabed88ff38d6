// The IRC line and names, sans-DOM: parsing what the server sends, casefolding, CTCP ACTION, mentions.

const TAG_ESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

/** One IRC line (tags, source, command, params), as the IRCv3 WebSocket delivers it: no CR/LF. */
export function parse(line) {
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
      else msg.tags[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/\\(.?)/g, (_, c) => TAG_ESCAPES[c] ?? c);
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

/** The server's CASEMAPPING=rfc1459: {}|^ are the lower case of []\~. */
export function key(name) {
  return name.toLowerCase().replace(/[[\]\\~]/g, (c) => ({ "[": "{", "]": "}", "\\": "|", "~": "^" })[c]);
}

export function isChannel(name) {
  return name.length > 0 && "#&".includes(name[0]);
}

export function nickOf(source) {
  const bang = source.indexOf("!");
  return bang < 0 ? source : source.slice(0, bang);
}

/** A nickname the server would take (the client checks before sending; the server has the last word). */
export function validNick(nick) {
  return /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/.test(nick);
}

/** `{ text, action }` of a PRIVMSG's text; null for a CTCP other than ACTION (not shown). */
export function ctcp(raw) {
  const action = /^\x01ACTION ?(.*?)\x01?$/.exec(raw);
  if (action) return { text: action[1], action: true };
  return raw.startsWith("\x01") ? null : { text: raw, action: false };
}

/** Whether `text` names `nick` as a word (case-insensitively, as IRC clients highlight). */
export function mentions(text, nick) {
  if (!nick) return false;
  const folded = key(text);
  const me = key(nick);
  for (let at = folded.indexOf(me); at >= 0; at = folded.indexOf(me, at + 1)) {
    const before = at === 0 ? "" : folded[at - 1];
    const after = folded[at + me.length] || "";
    if (!/[\w[\]\\`^{|}-]/.test(before) && !/[\w[\]\\`^{|}-]/.test(after)) return true;
  }
  return false;
}

/** One of 12 colour classes for a nick: the same nick always gets the same colour. */
export function colourOf(nick) {
  let hash = 0;
  for (const c of key(nick)) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `c${hash % 12}`;
}

/** A message's time from its `server-time` tag, else now. */
export function timeOf(msg) {
  const t = msg.tags.time ? new Date(msg.tags.time) : new Date();
  return isNaN(t) ? new Date() : t;
}

/** CHATHISTORY's position words: the msgid when there is one, else the time. */
export function ref(line) {
  return line.msgid ? `msgid=${line.msgid}` : `timestamp=${line.time.toISOString()}`;
}

/** `text` in pieces of at most `budget` UTF-8 bytes, broken at the last space that fits when there is one,
 * never inside a character (as the GUI splits): a long line is sent whole, as several messages. */
export function split(text, budget) {
  const encoder = new TextEncoder();
  const pieces = [];
  let rest = text;
  while (encoder.encode(rest).length > budget) {
    let cut = 0;
    let bytes = 0;
    for (const ch of rest) {
      const size = encoder.encode(ch).length;
      if (bytes + size > budget) break;
      bytes += size;
      cut += ch.length;
    }
    const space = rest.lastIndexOf(" ", cut);
    const at = space > 0 ? space : Math.max(cut, 1);
    if (rest.slice(0, at).trim()) pieces.push(rest.slice(0, at));
    rest = rest.slice(space > 0 ? at + 1 : at);
  }
  if (rest.trim()) pieces.push(rest);
  return pieces;
}
