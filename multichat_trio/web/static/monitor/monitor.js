// MultiChat monitor: connects to the server's WebSocket feed and shows the chat live.
// Every nick, message and topic is put in the page with textContent, never as HTML.
"use strict";

(() => {
  const RATE_WINDOW = 300; // seconds shown in the chart
  const BUCKET = 5; // seconds per chart bar
  const MAX_ROWS = 1000; // log rows kept in the page
  const $ = (id) => document.getElementById(id);

  const state = {
    lastId: 0,
    users: new Map(), // nick -> array of channels
    messages: 0,
    counts: new Map(), // epoch second -> messages in it
    clockOffset: 0, // server time minus local time, seconds
    attempt: 0,
    socket: null,
  };

  // --- connection, with backoff -------------------------------------------------------------

  function setStatus(kind, text) {
    $("status").className = "status " + kind;
    $("status-text").textContent = text;
  }

  async function connect() {
    setStatus("connecting", state.attempt ? "reconnecting…" : "connecting…");
    let config;
    try {
      config = await (await fetch("/api/config", { cache: "no-store" })).json();
      // The config is public (the chat page reads it too): whether this viewer is in, the stats say.
      if (config.login_required && (await fetch("/api/stats", { cache: "no-store" })).status === 401) {
        showLogin("");
        return;
      }
    } catch (error) {
      retry("server unreachable");
      return;
    }
    $("logout").hidden = !config.login_required;
    $("server-name").textContent = config.server_name + (config.chat_port ? " · IRC port " + config.chat_port : "");
    if (config.ws_port === null) {
      setStatus("off", "live feed is turned off on this server");
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.hostname}:${config.ws_port}/`);
    state.socket = socket;
    socket.onmessage = (message) => {
      try {
        handle(JSON.parse(message.data));
      } catch (error) {
        console.error("bad feed message", error);
      }
    };
    socket.onclose = (close) => {
      state.socket = null;
      retry(describeClose(close));
    };
  }

  function describeClose(close) {
    if (close.code === 1001) return "server went away (restarting?)";
    if (close.code === 1008 || close.code === 1013) return close.reason || "dropped by the server";
    if (close.reason) return close.reason;
    return "connection lost";
  }

  function retry(why) {
    const delay = Math.min(30, 0.5 * 2 ** state.attempt) * (0.8 + Math.random() * 0.4);
    state.attempt += 1;
    let left = Math.ceil(delay);
    const tick = () => {
      setStatus("down", `disconnected: ${why} — retrying in ${left} s`);
      left -= 1;
    };
    tick();
    const timer = setInterval(tick, 1000);
    setTimeout(() => {
      clearInterval(timer);
      connect();
    }, delay * 1000);
  }

  // --- login (when the monitor listens beyond loopback) --------------------------------------

  function showLogin(error) {
    document.body.classList.add("locked");
    $("login").hidden = false;
    $("logout").hidden = true;
    $("login-error").textContent = error;
    setStatus("off", "log in to watch");
    $("login-password").focus();
  }

  $("login").addEventListener("submit", async (submit) => {
    submit.preventDefault();
    let answer;
    try {
      const response = await fetch("/api/login", { method: "POST", body: new URLSearchParams(new FormData($("login"))) });
      answer = response.ok ? null : (await response.json()).error || `refused (${response.status})`;
    } catch (error) {
      answer = "server unreachable";
    }
    if (answer !== null) {
      showLogin(answer);
      return;
    }
    $("login").reset();
    $("login").hidden = true;
    document.body.classList.remove("locked");
    state.attempt = 0;
    connect();
  });

  $("logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST" }).catch(() => null);
    if (state.socket) {
      state.socket.onclose = null;
      state.socket.close();
      state.socket = null;
    }
    showLogin("");
  });

  // --- feed events ----------------------------------------------------------------------------

  function handle(event) {
    if (event.type === "snapshot") {
      onSnapshot(event);
      return;
    }
    if (event.id <= state.lastId) return; // already shown (never expected, but harmless)
    state.lastId = event.id;
    apply(event);
    if (event.type !== "stats") addRow(event);
  }

  function onSnapshot(snapshot) {
    const restarted = snapshot.id < state.lastId;
    const reconnect = state.attempt > 0 || state.lastId > 0;
    state.attempt = 0;
    state.clockOffset = Date.parse(snapshot.ts) / 1000 - Date.now() / 1000;
    if (restarted) {
      state.lastId = 0;
      addNote("the server restarted");
    } else if (reconnect && state.lastId) {
      addNote(snapshot.forgotten_id > state.lastId ? "reconnected: some events were missed meanwhile" : "reconnected");
    }
    state.users = new Map(snapshot.users.map((u) => [u.nick, u.channels]));
    state.messages = snapshot.stats.messages;
    state.counts = new Map(snapshot.rates.map(([second, count]) => [second, count]));
    for (const event of snapshot.events) {
      if (event.id > state.lastId) addRow(event);
    }
    state.lastId = snapshot.id;
    setStatus("live", "live");
    renderUsers();
    renderStats();
    drawChart();
  }

  function apply(event) {
    switch (event.type) {
      case "join": {
        const channels = state.users.get(event.nick) || [];
        if (!channels.includes(event.channel)) channels.push(event.channel);
        state.users.set(event.nick, channels);
        renderUsers();
        break;
      }
      case "leave":
        if (event.channel === null) state.users.delete(event.nick);
        else if (state.users.has(event.nick)) {
          state.users.set(event.nick, state.users.get(event.nick).filter((c) => c !== event.channel));
        }
        renderUsers();
        break;
      case "nick":
        if (state.users.has(event.old)) {
          state.users.set(event.new, state.users.get(event.old));
          state.users.delete(event.old);
        }
        renderUsers();
        break;
      case "message":
      case "pm": {
        state.messages += 1;
        const second = Math.floor(Date.parse(event.ts) / 1000);
        state.counts.set(second, (state.counts.get(second) || 0) + 1);
        renderStats();
        break;
      }
      case "stats":
        if (typeof event.messages === "number") state.messages = Math.max(state.messages, event.messages);
        renderStats();
        break;
      case "forget":
        forgetRows(event);
        break;
    }
  }

  function forgetRows(event) {
    // HISTSERV FORGET: the target's messages since `since` leave the log (the server's copy is gone too).
    const target = String(event.target).toLowerCase();
    const since = (Number(event.since) || 0) * 1000;
    for (const row of document.querySelectorAll('#log .row[data-type="message"]')) {
      if (row.dataset.nick.toLowerCase() === target && Date.parse(row.dataset.ts) >= since) row.remove();
    }
  }

  // --- the activity log -----------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function nickNode(nick) {
    const node = el("span", "nick", nick);
    let hash = 0;
    for (const ch of String(nick)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    node.style.color = `hsl(${hash % 360}, 65%, 68%)`;
    return node;
  }

  const LEAVE_TEXT = {
    part: "left",
    quit: "quit",
    flood: "was disconnected for flooding",
    sendq: "was disconnected: too slow to read (SendQ)",
    ping: "timed out",
    shutdown: "was disconnected: server shutdown",
    error: "lost the connection",
    kill: "was killed by an operator",
    kline: "was banned from the server",
  };

  const ACTION = /^\x01ACTION(?: (.*?))?\x01?$/;

  function describe(event) {
    // Returns [row class, list of nodes]; text only, through el()/nickNode().
    const t = (text) => document.createTextNode(text);
    switch (event.type) {
      case "join":
        return ["join", [el("span", "mark", "→"), nickNode(event.nick), t(" joined "), el("span", "chan", event.channel)]];
      case "leave": {
        const nodes = [el("span", "mark", "←"), nickNode(event.nick), t(" " + (LEAVE_TEXT[event.kind] || "left"))];
        if (event.channel) nodes.push(t(" "), el("span", "chan", event.channel));
        if (event.reason) nodes.push(el("span", "reason", ` (${event.reason})`));
        const alert = ["flood", "sendq", "kill", "kline"].includes(event.kind);
        if (alert) nodes.push(el("span", "badge warn", event.kind));
        return [alert ? "leave alert" : "leave", nodes];
      }
      case "message": {
        const action = ACTION.exec(event.text); // `/me waves` arrives as CTCP ACTION: "* nick waves"
        if (action) {
          return ["action", [el("span", "chan", event.channel), el("span", "mark", "*"), nickNode(event.nick), el("span", "text", " " + (action[1] || ""))]];
        }
        const nodes = [el("span", "chan", event.channel), nickNode(event.nick)];
        if (event.command === "NOTICE") nodes.push(el("span", "badge", "notice"));
        nodes.push(el("span", "text", event.text));
        return ["message", nodes];
      }
      case "pm":
        return ["pm", [el("span", "mark", "✉"), nickNode(event.from), t(" → "), nickNode(event.to), el("span", "reason", " (private message)")]];
      case "nick":
        return ["nick", [el("span", "mark", "✎"), nickNode(event.old), t(" is now known as "), nickNode(event.new)]];
      case "topic":
        return ["topic", [el("span", "mark", "¶"), nickNode(event.nick), t(" set the topic of "), el("span", "chan", event.channel), t(": "), el("span", "text", event.topic)]];
      case "mode":
        return ["mode", [el("span", "mark", "⚙"), nickNode(event.nick), t(" set "), el("span", "chan", event.channel), t(" "), el("span", "text", [event.modes, ...(event.args || [])].join(" "))]];
      case "kick":
        return ["kick alert", [el("span", "mark", "✖"), nickNode(event.nick), t(" kicked "), nickNode(event.target), t(" from "), el("span", "chan", event.channel), el("span", "reason", event.reason ? ` (${event.reason})` : "")]];
      case "flood":
        return ["flood alert", [el("span", "mark", "⚠"), nickNode(event.nick), t(" flooded the server"), el("span", "reason", event.host ? ` from ${event.host}` : ""), el("span", "badge warn", "flood")]];
      case "oper":
        return ["oper", [el("span", "mark", "★"), nickNode(event.nick), t(" is now server operator "), el("span", "chan", event.oper)]];
      case "kill":
        return ["oper alert", [el("span", "mark", "✖"), nickNode(event.nick), t(" killed "), nickNode(event.target), el("span", "reason", ` (${event.reason})`), el("span", "badge warn", "kill")]];
      case "kline": {
        const until = event.expires ? ` until ${new Date(event.expires * 1000).toLocaleString()}` : "";
        const what = event.mask ? ` ${event.mask}` : " a user"; // the mask only with --monitor-show-hosts
        return ["oper alert", [el("span", "mark", "⛔"), nickNode(event.nick), t(` banned${what} from the server${until}`), el("span", "reason", ` (${event.reason})`), el("span", "badge warn", "ban")]];
      }
      case "unkline":
        return ["oper", [el("span", "mark", "⛔"), nickNode(event.nick), t(` lifted a server ban${event.mask ? " on " + event.mask : ""}`)]];
      case "forget":
        return ["oper", [el("span", "mark", "⌫"), nickNode(event.nick), t(" removed the messages of "), nickNode(event.target), t(" from the history")]];
      default:
        return ["other", [t(`${event.type} event`)]];
    }
  }

  function addRow(event) {
    const [kind, nodes] = describe(event);
    const row = el("li", "row " + kind);
    row.dataset.id = event.id;
    row.dataset.type = event.type;
    row.dataset.nick = event.nick || "";
    row.dataset.ts = event.ts;
    const when = el("time", "ts", new Date(event.ts).toLocaleTimeString([], { hour12: false }));
    when.dateTime = event.ts;
    when.title = event.ts;
    row.append(when, ...nodes);
    append(row);
  }

  function addNote(text) {
    const row = el("li", "row note");
    row.append(el("span", "mark", "•"), el("span", "text", text));
    append(row);
  }

  function append(row) {
    const log = $("log");
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(row);
    while (log.childElementCount > MAX_ROWS) log.firstElementChild.remove();
    if ($("follow").checked && atBottom) log.scrollTop = log.scrollHeight;
    else $("jump").hidden = false;
  }

  // --- users, stats, chart --------------------------------------------------------------------

  function renderUsers() {
    const list = $("users");
    const nicks = [...state.users.keys()].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
    list.replaceChildren(
      ...nicks.map((nick) => {
        const item = el("li", "user");
        item.append(nickNode(nick), el("span", "channels", state.users.get(nick).join(" ")));
        return item;
      }),
    );
    $("user-count").textContent = `${nicks.length} user${nicks.length === 1 ? "" : "s"}`;
    $("stat-clients").textContent = nicks.length;
  }

  function serverNow() {
    return Date.now() / 1000 + state.clockOffset;
  }

  function recentRate() {
    const now = Math.floor(serverNow());
    let total = 0;
    for (const [second, count] of state.counts) if (second > now - 10) total += count;
    return total / 10;
  }

  function renderStats() {
    $("stat-messages").textContent = state.messages.toLocaleString();
    const rate = recentRate();
    $("stat-rate").textContent = rate < 10 ? rate.toFixed(1) : Math.round(rate);
  }

  function drawChart() {
    const canvas = $("rate-chart");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== width * ratio) {
      canvas.width = width * ratio;
      canvas.height = height * ratio;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const now = Math.floor(serverNow());
    for (const second of state.counts.keys()) if (second <= now - RATE_WINDOW - BUCKET) state.counts.delete(second);
    const bars = RATE_WINDOW / BUCKET;
    const values = new Array(bars).fill(0);
    for (const [second, count] of state.counts) {
      const index = bars - 1 - Math.floor((now - second) / BUCKET);
      if (index >= 0 && index < bars) values[index] += count / BUCKET;
    }
    const top = Math.max(1, ...values);
    const scale = niceCeil(top);
    const plotTop = 14, plotBottom = height - 16;
    ctx.strokeStyle = "#2d333b";
    ctx.fillStyle = "#768390";
    ctx.font = "10px system-ui, sans-serif";
    ctx.lineWidth = 1;
    for (const fraction of [0, 0.5, 1]) {
      const y = Math.round(plotBottom - (plotBottom - plotTop) * fraction) + 0.5;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(width, y);
      ctx.stroke();
    }
    ctx.textBaseline = "top";
    ctx.fillText(`${formatRate(scale)} msg/s`, 2, 1);
    ctx.textBaseline = "bottom";
    ctx.fillText("−5 min", 2, height);
    ctx.textAlign = "right";
    ctx.fillText("now", width - 2, height);
    ctx.textAlign = "left";
    const step = width / bars;
    ctx.fillStyle = "#4493f8";
    values.forEach((value, i) => {
      if (!value) return;
      const h = Math.max(1.5, ((plotBottom - plotTop) * value) / scale);
      ctx.fillRect(i * step + 0.5, plotBottom - h, Math.max(1, step - 1.5), h);
    });
  }

  function niceCeil(value) {
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const m of [1, 2, 5, 10]) if (value <= m * magnitude) return m * magnitude;
    return 10 * magnitude;
  }

  function formatRate(value) {
    return value < 1 ? value.toFixed(1) : String(Math.round(value));
  }

  // --- page wiring ----------------------------------------------------------------------------

  $("jump").addEventListener("click", () => {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
    $("jump").hidden = true;
  });
  $("log").addEventListener("scroll", () => {
    const log = $("log");
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 40) $("jump").hidden = true;
  });
  $("show-joins").addEventListener("change", (e) => {
    $("log").classList.toggle("hide-joins", !e.target.checked);
  });
  setInterval(() => {
    renderStats();
    drawChart();
  }, 1000);
  drawChart();
  connect();
})();
