// The users table: the rows the page holds, counted, filtered, searched and sorted, with a live "last seen".
import { byPresence, fullName, matches, relativeTime } from "./format.js";

const $ = (id) => document.getElementById(id);

function filters() {
  return {
    onlineOnly: document.querySelector('input[name="filter"]:checked').value === "online",
    needle: $("search").value.trim(),
  };
}

/**
 * Show `users` (counts, then the filtered, searched and sorted rows, at most `limit`); staff get the staff-only
 * cells. Returns the users on screen.
 */
export function renderUsers(users, staff, clock, limit = Infinity) {
  const { onlineOnly, needle } = filters();
  const online = users.filter((user) => user.online_status === "online").length;
  $("online-count").textContent = online;
  $("total-count").textContent = users.length;

  const matching = users
    .filter((user) => (!onlineOnly || user.online_status === "online") && matches(user, needle))
    .sort(byPresence);
  const shown = matching.slice(0, limit);
  document.querySelector("#users tbody").replaceChildren(...shown.map((user) => row(user, staff)));
  $("empty").hidden = shown.length > 0;
  $("more-rows").hidden = shown.length === matching.length;
  $("shown-count").textContent = shown.length;
  $("matching-count").textContent = matching.length;
  renderTimes(clock);
  return shown;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(user, staff) {
  const tr = document.createElement("tr");
  tr.dataset.username = user.username;
  tr.dataset.status = user.online_status;
  tr.append(cell(user.username, "username"), cell(fullName(user) || "—", "full-name"));
  if (staff) tr.append(cell(user.email || "—", "staff-only email"));

  // The word is always there: colour alone would not tell everyone the status.
  const status = document.createElement("td");
  status.className = "status";
  const badge = document.createElement("span");
  badge.className = `badge ${user.online_status}`;
  const dot = document.createElement("span");
  dot.className = "dot";
  dot.setAttribute("aria-hidden", "true");
  badge.append(dot, user.online_status);
  status.append(badge);
  if (staff && user.is_active === false) {
    // Deactivated accounts cannot log in: not the same as a user who is merely offline.
    tr.dataset.deactivated = "true";
    const mark = document.createElement("span");
    mark.className = "deactivated-mark";
    mark.textContent = "deactivated";
    status.append(mark);
  }
  if (staff && user.invisible) {
    // Staff see the real status; everyone else sees this user offline.
    const mark = document.createElement("span");
    mark.className = "invisible-mark";
    mark.title = "Appears offline to everyone but staff";
    mark.textContent = "invisible";
    status.append(mark);
  }

  const seen = document.createElement("td");
  seen.className = "last-seen";
  const time = document.createElement("time");
  // A present user (online or away) was seen within the timeout by definition, and the feed does not
  // resend them on each heartbeat: their stored time would age on screen while they are still here.
  if (user.last_seen && user.online_status === "offline") {
    time.dateTime = user.last_seen;
    time.title = new Date(user.last_seen).toLocaleString();
  } else if (user.online_status !== "offline") {
    time.dataset.present = "true";
  }
  seen.append(time);
  tr.append(status, seen);
  return tr;
}

/** Keep "last seen" current between refreshes; `clock` is {clockOffset, fetchedAt} of the last read. */
export function renderTimes({ clockOffset, fetchedAt }) {
  const now = Date.now() + clockOffset;
  for (const time of document.querySelectorAll("#users tbody time")) {
    time.textContent = time.dataset.present ? "now" : relativeTime(time.dateTime, now);
  }
  $("updated").textContent = fetchedAt ? relativeTime(new Date(fetchedAt).toISOString(), Date.now()) : "never";
}
