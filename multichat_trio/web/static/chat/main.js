// The web chat client's entry point: wires the page's controls to the session (client.js) and the view.
import { connect, markRead, older, reconnectNow, select, send, serverConfig } from "./client.js";
import { run } from "./commands.js";
import { onKey, remember } from "./input.js";
import { validNick } from "./irc.js";
import { enable, renderBell } from "./notify.js";
import { current, state } from "./state.js";
import { $, renderChannelList, renderConvs } from "./view.js";

function login(event) {
  event.preventDefault();
  const nick = $("nick").value.trim();
  if (!validNick(nick)) {
    $("login-error").textContent = "a nickname is 1 to 30 letters, digits or - _ [ ] { } | ^ ` \\, not starting with a digit or -";
    return;
  }
  $("login-error").textContent = "";
  connect(nick, $("password").value);
  $("password").value = "";
}

function submit(event) {
  event.preventDefault();
  const text = $("input").value;
  $("input").value = "";
  if (!text.trim()) return;
  remember(text);
  const c = current();
  if (c) c.firstUnread = null;
  run(text);
}

/** A click on a conversation, a member (opens a private conversation) or a channel in the list (joins it). */
function clicked(selector, act) {
  return (event) => {
    const item = event.target.closest(selector);
    if (item) act(item);
  };
}

/** Where this is, on the login form: the network's name, and the address for IRC clients. */
async function describeServer() {
  try {
    const config = await serverConfig();
    if (config.network) $("login").querySelector("h1").textContent = config.network;
    if (config.chat_port) $("login-irc").textContent = `IRC clients: ${location.hostname}, port ${config.chat_port}`;
  } catch {
    // the form works without it; connecting says what is wrong
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("nick").value = localStorage.getItem("multichat.nick") || "";
  describeServer();
  $("login").addEventListener("submit", login);
  $("send").addEventListener("submit", submit);
  $("input").addEventListener("keydown", onKey);
  $("convs").addEventListener("click", clicked("li", (item) => select(item.dataset.name)));
  $("member-list").addEventListener("click", clicked("li", (item) => run(`/query ${item.dataset.nick}`)));
  $("channel-rows").addEventListener("click", clicked("li[data-name]", (item) => {
    $("channels").close();
    run(`/join ${item.dataset.name}`);
  }));
  $("channel-filter").addEventListener("input", () => renderChannelList(state.lastList));
  $("channel-create").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("channel-name").value.trim();
    if (!name) return;
    $("channels").close();
    $("channel-name").value = "";
    run(`/join ${name}`);
  });
  $("channel-close").addEventListener("click", () => $("channels").close());
  $("browse").addEventListener("click", () => {
    renderChannelList([]);
    send("LIST");
  });
  $("notifications").addEventListener("click", enable);
  $("toggle-convs").addEventListener("click", () => $("chat").classList.toggle("show-convs"));
  $("toggle-members").addEventListener("click", () => $("chat").classList.toggle("show-members"));
  $("log").addEventListener("scroll", () => {
    if ($("log").scrollTop < 80) older();
  });
  document.addEventListener("visibilitychange", () => {
    const c = current();
    if (!document.hidden && c) {
      c.unread = 0;
      c.mentioned = false;
      markRead(c);
      renderConvs();
    }
  });
  document.addEventListener("multichat-open", (event) => select(event.detail));
  window.addEventListener("online", reconnectNow);
  renderBell();
});
