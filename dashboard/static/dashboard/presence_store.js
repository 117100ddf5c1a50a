// The users the dashboard holds, and the presence feed cursor that brings them up to date.

export class PresenceStore {
  constructor() {
    this.byId = new Map();
    this.cursor = null;
  }

  /** Forget the cursor, so the next read is a full one; the rows stay on screen until it lands. */
  resync() {
    this.cursor = null;
  }

  /**
   * Apply one feed answer: a full one replaces everything held; a partial one replaces or adds rows by id.
   * A `scoped` answer (a socket's watch list) covers only the users on screen: it replaces their rows and keeps
   * the rest as last read, and its cursor is not the feed's (those rows were not followed meanwhile).
   */
  apply({ cursor, full, users, more }, { scoped = false } = {}) {
    if (full && !scoped) this.byId = new Map();
    // A whole row per entry: an edited name or a new account arrives the same way as a status change.
    for (const user of users) this.byId.set(user.id, user);
    // A socket sends a big answer in parts: the cursor holds only once the last part ("more" unset) is in.
    if (!more && !scoped) this.cursor = cursor;
  }

  users() {
    return [...this.byId.values()];
  }
}
