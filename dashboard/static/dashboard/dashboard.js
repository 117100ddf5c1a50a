// The presence dashboard: log in, send heartbeats, follow the presence feed, and show the users.
import {
  ConnectionLost, CursorRejected, SessionExpired, clearSession, createClient, loadSession, logIn, readPresence, saveSession,
} from "./api.js";
import { ActivityTracker } from "./activity.js";
import { PresenceSocket } from "./presence_socket.js";
import { PresenceStore } from "./presence_store.js";
import { renderTimes, renderUsers } from "./users_table.js";

const $ = (id) => document.getElementById(id);
const urls = {
  login: document.body.dataset.loginUrl,
  logout: document.body.dataset.logoutUrl,
  refresh: document.body.dataset.refreshUrl,
  heartbeat: document.body.dataset.heartbeatUrl,
  presence: document.body.dataset.presenceUrl,
  myPresence: document.body.dataset.myPresenceUrl,
};

// Everything that belongs to one logged-in session; replaced at login, dropped at logout.
let current = null;
// A regular user's page shows (and watches) at most this many rows.
const SCOPED_ROWS = 100;
const WATCH_DELAY_MS = 250;

function showLogin(message) {
  $("dashboard-view").hidden = true;
  $("account").hidden = true;
  $("login-view").hidden = false;
  $("login-message").textContent = message ?? "";
  $("login-message").hidden = !message;
  setConnection(true);
}

/** "socket" while the presence socket is up (no polls, no HTTP heartbeats), else "polling". */
function setTransport(state, transport) {
  state.transport = transport;
  document.body.dataset.transport = transport;
  $("transport-socket").hidden = transport !== "socket";
  $("transport-polling").hidden = transport === "socket";
}

function setConnection(ok) {
  document.body.dataset.connection = ok ? "ok" : "lost";
  $("connection-lost").hidden = ok;
}

/** Start the timers of a session whose tokens and intervals came from a login response. */
function start(session) {
  const call = createClient(urls, session, saveSession);
  const state = {
    session, call, store: new PresenceStore(), fetchedAt: null, clockOffset: 0, timers: [], busy: new Set(),
    reported: null, // the state ("active" or "idle") the last successful heartbeat told the server
    // Staff keep the whole list; everyone else's socket watches only the rows on screen (and their own row).
    scoped: !session.user.is_staff,
    watching: [session.user.id], // the watch list the socket was last given
    watchTimer: null,
  };
  // Idle after idle_seconds without input (as Slack, Mattermost and Synapse do); input again sends "active" at once.
  state.activity = new ActivityTracker(session.presence.idle_seconds ?? 300, () => heartbeat(state));
  current = state;
  setTransport(state, "polling");

  $("login-view").hidden = true;
  $("dashboard-view").hidden = false;
  $("account").hidden = false;
  $("account-name").textContent = session.user.username;
  $("users").classList.toggle("show-staff", Boolean(session.user.is_staff));
  $("heartbeat-seconds").textContent = session.presence.heartbeat_seconds;
  $("refresh-seconds").textContent = session.presence.refresh_seconds;

  // While the socket is up it carries both ways: these timers skip their turn.
  state.timers.push(
    setInterval(() => state.transport === "socket" || heartbeat(state), session.presence.heartbeat_seconds * 1000),
  );
  state.timers.push(
    setInterval(() => {
      // Hidden tabs do not poll; the visibilitychange handler catches up at once, from the cursor held.
      if (!document.hidden) refreshUsers(state);
    }, session.presence.refresh_seconds * 1000),
  );
  state.timers.push(
    setInterval(() => {
      if (state.transport === "socket") state.fetchedAt = Date.now(); // live: the list is current by construction
      renderTimes(state);
      // Going idle is told at once too, not only with the next regular heartbeat.
      // (During an outage the heartbeat timer keeps retrying; this would only add one a second.)
      const reachable = document.body.dataset.connection !== "lost";
      if (reachable && state.reported === "active" && state.activity.state() === "idle") heartbeat(state);
    }, 1000),
  );
  heartbeat(state);
  refreshUsers(state);
  syncOwnPresence(state);
  if (session.presence.websocket && "WebSocket" in window) state.socket = openSocket(state);
}

/** The presence socket, with polling as the fallback whenever it is down. */
function openSocket(state) {
  return new PresenceSocket(state.session.presence.websocket, {
    access: () => state.session.access,
    // A scoped page comes back with a snapshot of its rows (a hundred at most): the rows on screen may
    // have changed while it was away, and a cursor only covers the list it was taken with.
    cursor: () => (state.scoped ? null : state.store.cursor),
    watch: () => (state.scoped ? state.watching : undefined),
    onPresence: (body) => current === state && applyPresence(state, body, null, { pushed: true }),
    onUp: () => {
      setTransport(state, "socket");
      setConnection(true);
      state.reported = "active"; // its auth counted as an active heartbeat; going idle is told by the 1 s timer
    },
    onDown: () => {
      if (current !== state) return;
      setTransport(state, "polling");
      if (state.scoped) state.store.resync(); // the rows off screen were not followed: read everyone again
      heartbeat(state);
      refreshUsers(state);
    },
    // A 4401: renew the tokens through any API call (the client refreshes on a 401); a revoked session ends here.
    onRejected: async () => {
      await exchange(state, "socket-auth", () => state.call(urls.myPresence));
      if (current !== state) throw new Error("logged out");
    },
  });
}

/** Read (or, with `change`, set) the caller's invisible flag; the "Appear offline" box shows what the server holds. */
async function syncOwnPresence(state, change) {
  let confirmed = null;
  await exchange(state, "own-presence", async () => {
    const options = change === undefined ? {} : { method: "PATCH", body: { invisible: change } };
    const answer = await state.call(urls.myPresence, options);
    if (answer.status === 200) confirmed = answer.body.invisible;
  });
  if (current !== state) return;
  const box = $("appear-offline");
  // Not confirmed (no connection, say): a click the server did not take is undone.
  box.checked = confirmed ?? (change === undefined ? box.checked : !change);
  renderOwnStatus(state);
}

function stop(state) {
  clearTimeout(state.watchTimer);
  state.socket?.stop();
  state.timers.forEach(clearInterval);
  state.timers = [];
  state.activity.stop();
  if (current === state) current = null;
}

/** Run one request of a kind unless the same kind is still in flight; handle the outcomes every request shares. */
async function exchange(state, kind, work) {
  if (state.busy.has(kind)) return;
  state.busy.add(kind);
  try {
    await work();
    if (current !== state) return; // logged out while the request was in flight
    const recovered = document.body.dataset.connection === "lost";
    setConnection(true);
    if (recovered) {
      // Back from an outage: announce ourselves and catch up without waiting for the timers.
      heartbeat(state);
      refreshUsers(state);
    }
  } catch (error) {
    if (current !== state) return;
    if (error instanceof ConnectionLost) {
      setConnection(false); // the timers keep running, so the next tick is the retry
    } else if (error instanceof SessionExpired) {
      stop(state);
      clearSession();
      showLogin("Your session has expired. Please log in again.");
    } else {
      throw error;
    }
  } finally {
    state.busy.delete(kind);
  }
}

function heartbeat(state) {
  if (state.transport === "socket" && state.socket.sendState(state.activity.state())) {
    state.reported = state.activity.state();
    document.body.dataset.activity = state.reported;
    return Promise.resolve();
  }
  return exchange(state, "heartbeat", async () => {
    const activity = state.activity.state();
    const answer = await state.call(urls.heartbeat, { method: "POST", body: { state: activity } });
    if (answer.status !== 200) return;
    state.reported = activity;
    document.body.dataset.activity = activity;
  });
}

/** The first read is a full one; every later one asks only for the changes since the cursor held. */
function refreshUsers(state) {
  if (state.transport === "socket") return Promise.resolve(); // the socket pushes every change
  return exchange(state, "users", async () => {
    let answer;
    try {
      answer = await readPresence(state.call, urls.presence, state.store.cursor);
    } catch (error) {
      if (!(error instanceof CursorRejected)) throw error;
      // The server refused our cursor: changes since it cannot be asked for, so read everyone.
      state.store.resync();
      answer = await readPresence(state.call, urls.presence, null);
    }
    if (current !== state) return;
    applyPresence(state, answer.body, answer.date);
  });
}

/** A feed answer or a socket push (`pushed`): applied over what the page holds, then shown. */
function applyPresence(state, body, date, { pushed = false } = {}) {
  state.store.apply(body, { scoped: state.scoped && pushed });
  state.fetchedAt = Date.now();
  // Relative times use the server's clock, so a laptop whose clock is off still reads "just now".
  if (date) {
    const serverNow = Date.parse(date);
    state.clockOffset = Number.isNaN(serverNow) ? 0 : serverNow - Date.now();
  }
  render(state);
}

function render(state) {
  const limit = state.scoped ? Math.min(SCOPED_ROWS, (state.session.presence.watch_max ?? SCOPED_ROWS + 1) - 1) : Infinity;
  const shown = renderUsers(state.store.users(), Boolean(state.session.user.is_staff), state, limit);
  renderOwnStatus(state);
  if (state.scoped) watchShown(state, shown);
}

/** A scoped page's socket watches what is on screen: told a moment after the filter or the search settles. */
function watchShown(state, shown) {
  const watching = [...new Set([state.session.user.id, ...shown.map((user) => user.id)])].sort((a, b) => a - b);
  if (watching.join() === state.watching.join()) return;
  state.watching = watching;
  clearTimeout(state.watchTimer);
  // Typing in the search box re-renders on every key: one watch message per pause, within the socket's budget.
  state.watchTimer = setTimeout(() => state.socket?.sendWatch(state.watching), WATCH_DELAY_MS);
}

/** The header's badge: your status as the server reports it, or "invisible" while you appear offline. */
function renderOwnStatus(state) {
  const own = state.store.byId.get(state.session.user.id);
  const status = $("appear-offline").checked ? "invisible" : (own?.online_status ?? "offline");
  $("own-status").className = `badge ${status === "invisible" ? "offline" : status}`;
  $("own-status").dataset.status = status;
  $("own-status-text").textContent = status;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const answer = await logIn(urls, form.username.value, form.password.value);
    if (answer.status !== 200) {
      showLogin(answer.body?.detail ?? "Login failed.");
      return;
    }
    const { access, refresh, user, presence } = answer.body;
    const session = { access, refresh, user, presence };
    saveSession(session);
    form.reset();
    $("login-message").hidden = true;
    start(session);
  } catch (error) {
    showLogin(error instanceof ConnectionLost ? "Cannot reach the server. Try again in a moment." : String(error));
  } finally {
    button.disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  const state = current;
  if (!state) return;
  stop(state); // no heartbeat may follow the logout and bring the user back online
  try {
    await state.call(urls.logout, { method: "POST", body: { refresh: state.session.refresh } });
  } catch {
    // Logged out locally either way; the server's timeout marks the user offline if this was lost.
  }
  clearSession();
  showLogin("You have logged out.");
});

document.querySelectorAll('input[name="filter"]').forEach((input) =>
  input.addEventListener("change", () => current && render(current)),
);
$("search").addEventListener("input", () => current && render(current));
$("appear-offline").addEventListener("change", async (event) => {
  if (!current) return;
  const box = event.currentTarget;
  box.disabled = true; // one change at a time
  try {
    await syncOwnPresence(current, box.checked);
  } finally {
    box.disabled = false;
  }
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && current) {
    current.activity.input(); // coming back to the tab is the person's doing
    heartbeat(current);
    refreshUsers(current);
  }
});
window.addEventListener("online", () => {
  if (current) {
    heartbeat(current);
    refreshUsers(current);
  }
});

const saved = loadSession();
if (saved?.access && saved?.presence) start(saved);
else showLogin();
