// The input line's keys: Up and Down walk the lines sent before, Tab completes nicks, channels and commands.
import { HELP } from "./commands.js";
import { key } from "./irc.js";
import { current, state } from "./state.js";

const KEPT = 100;
const sent = [];
let back = -1; // where Up has walked to: -1 is the line being typed
let draft = "";
let completion = null; // { start, end, choices, index } while Tab cycles

export function remember(text) {
  if (sent[sent.length - 1] !== text) sent.push(text);
  if (sent.length > KEPT) sent.shift();
  back = -1;
}

function walk(input, step) {
  if (!sent.length) return;
  if (back === -1) draft = input.value;
  back = Math.max(-1, Math.min(sent.length - 1, back + step));
  input.value = back === -1 ? draft : sent[sent.length - 1 - back];
  input.setSelectionRange(input.value.length, input.value.length);
}

/** What the word `word` could become: a command, a channel, or a nick (the newest speakers first). */
function choices(word, atStart) {
  const folded = key(word);
  if (atStart && word.startsWith("/")) {
    return Object.keys(HELP).map((c) => `/${c}`).filter((c) => c.startsWith(folded));
  }
  if (word.startsWith("#")) return [...state.convs.values()].filter((c) => c.kind === "channel").map((c) => c.name).filter((n) => key(n).startsWith(folded));
  const c = current();
  const speakers = c ? [...c.lines].reverse().map((l) => l.nick).filter(Boolean) : [];
  const members = c ? [...c.members.keys()] : [];
  const names = [...new Set([...speakers, ...members.sort((a, b) => a.localeCompare(b))])];
  return names.filter((n) => key(n).startsWith(folded) && key(n) !== key(state.nick));
}

function complete(input, step) {
  const value = input.value;
  if (!completion) {
    const end = input.selectionStart ?? value.length;
    const start = value.slice(0, end).search(/\S*$/);
    const word = value.slice(start, end);
    if (!word) return;
    const found = choices(word, start === 0);
    if (!found.length) return;
    completion = { start, end, choices: found, index: -1 };
  }
  const { start, end } = completion;
  completion.index = (completion.index + step + completion.choices.length) % completion.choices.length;
  let word = completion.choices[completion.index];
  if (start === 0 && !word.startsWith("/") && !word.startsWith("#")) word += ":";
  const tail = value.slice(completion.tail ?? end);
  const insert = `${word} `;
  input.value = value.slice(0, start) + insert + tail.replace(/^ /, "");
  completion.tail = start + insert.length;
  input.setSelectionRange(start + insert.length, start + insert.length);
}

export function onKey(event) {
  const input = event.target;
  if (event.key === "Tab" && !event.ctrlKey && !event.altKey && !event.metaKey) {
    event.preventDefault();
    return complete(input, event.shiftKey ? -1 : 1);
  }
  completion = null;
  if (event.key === "ArrowUp" && !input.value.slice(0, input.selectionStart).includes("\n")) {
    event.preventDefault();
    walk(input, 1);
  } else if (event.key === "ArrowDown") {
    event.preventDefault();
    walk(input, -1);
  }
}
