// Pure formatting for the users table: relative times and display names.

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 days ago"; "never" when there is no time. */
export function relativeTime(iso, nowMs) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (seconds < 10) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

export function fullName(user) {
  return [user.first_name, user.last_name].filter(Boolean).join(" ");
}

/** Online users first, then by username. */
const PRESENCE_ORDER = { online: 0, away: 1, offline: 2 };

export function byPresence(a, b) {
  const rank = (PRESENCE_ORDER[a.online_status] ?? 3) - (PRESENCE_ORDER[b.online_status] ?? 3);
  return rank || a.username.localeCompare(b.username);
}

export function matches(user, needle) {
  if (!needle) return true;
  const haystack = [user.username, fullName(user), user.email ?? ""].join(" ").toLowerCase();
  return haystack.includes(needle.toLowerCase());
}
