// The JSON API client of the dashboard: tokens in sessionStorage, one token refresh and retry on a 401.

const STORAGE_KEY = "offchat.session";

/** The server answered, but the session cannot be renewed: the user must log in again. */
export class SessionExpired extends Error {}

/** The request never got an answer (server down, network gone) or the server failed (5xx). */
export class ConnectionLost extends Error {}

/** The presence feed refused the cursor as not one this server issued. */
export class CursorRejected extends Error {}

export function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** One HTTP exchange; network failures and 5xx become ConnectionLost. Returns {status, body, date}. */
async function send(url, { method = "GET", body, access } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (access) headers.Authorization = `Bearer ${access}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ConnectionLost(error.message);
  }
  if (response.status >= 500) throw new ConnectionLost(`HTTP ${response.status}`);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    throw new ConnectionLost("the answer was not JSON"); // a proxy's error page, say
  }
  return { status: response.status, body: parsed, date: response.headers.get("Date") };
}

export async function logIn(urls, username, password) {
  return send(urls.login, { method: "POST", body: { username, password } });
}

/** Calls the API with the session's access token; on a 401 refreshes the tokens once and retries once. */
export function createClient(urls, session, onTokens) {
  let refreshing = null;

  // Concurrent 401s (heartbeat and list at once) share one refresh: with rotation a second
  // refresh with the same token would be refused and end a session that is still good.
  function refreshTokens() {
    refreshing ??= (async () => {
      const answer = await send(urls.refresh, { method: "POST", body: { refresh: session.refresh } });
      if (answer.status !== 200) throw new SessionExpired(answer.body?.detail ?? "Session expired.");
      session.access = answer.body.access;
      session.refresh = answer.body.refresh ?? session.refresh;
      onTokens(session);
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  return async function call(url, options = {}) {
    const used = session.access;
    let answer = await send(url, { ...options, access: used });
    if (answer.status !== 401) return answer;
    // Another request may already have renewed the token while this one was in flight.
    if (session.access === used) await refreshTokens();
    answer = await send(url, { ...options, access: session.access });
    if (answer.status === 401) throw new SessionExpired(answer.body?.detail ?? "Session expired.");
    return answer;
  };
}

/** One read of the presence feed: every user without a cursor, only the changes after it with one. */
export async function readPresence(call, url, cursor) {
  const answer = await call(cursor ? `${url}?since=${encodeURIComponent(cursor)}` : url);
  if (cursor && answer.status === 400) throw new CursorRejected(answer.body?.detail ?? "Cursor rejected.");
  if (answer.status !== 200) throw new ConnectionLost(`HTTP ${answer.status}`);
  return answer;
}
