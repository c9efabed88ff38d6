// Browser notifications for a mention or a private message while the tab is hidden; asked for on a click only.
import { $ } from "./view.js";

const supported = () => "Notification" in window;

/** The bell button's look: what a click would do. */
export function renderBell() {
  const bell = $("notifications");
  bell.hidden = !supported() || Notification.permission === "denied";
  const on = supported() && Notification.permission === "granted";
  bell.textContent = on ? "Notifications on" : "Enable notifications";
  bell.disabled = on;
}

/** On the user's click only (browsers refuse, or nag, otherwise). */
export async function enable() {
  if (supported() && Notification.permission === "default") await Notification.requestPermission();
  renderBell();
}

let open = null;

export function notify(title, body, target) {
  if (!document.hidden || !supported() || Notification.permission !== "granted") return;
  if (open) open.close();
  open = new Notification(title, { body, tag: "multichat", renotify: true });
  open.addEventListener("click", () => {
    window.focus();
    document.dispatchEvent(new CustomEvent("multichat-open", { detail: target }));
  });
}
