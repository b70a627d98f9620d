/** Something that says once when it ends: an engine.io socket or a `ws` WebSocket (`close`), a
 * Socket.IO socket (`disconnect`). */
export interface Closable {
  once(event: string, listener: () => void): unknown;
}

/**
 * The open connections of each user on this process, emptied as connections close: what
 * `disconnectUser` walks. A connection may carry several users (Socket.IO namespaces multiplexed
 * with different tickets); it leaves every user's set when it closes.
 */
export class UserConnections<T extends Closable> {
  private readonly byUser = new Map<string, Set<T>>();
  private readonly usersOf = new WeakMap<T, Set<string>>();

  /** @param closeEvent the event that says the connection ended */
  constructor(private readonly closeEvent = 'close') {}

  /** Adds the connection to the user's; idempotent. */
  add(userId: string, connection: T): void {
    let users = this.usersOf.get(connection);
    if (!users) {
      const own = new Set<string>();
      users = own;
      this.usersOf.set(connection, own);
      connection.once(this.closeEvent, () => {
        for (const id of own) this.remove(id, connection);
      });
    }
    users.add(userId);
    let connections = this.byUser.get(userId);
    if (!connections) {
      connections = new Set();
      this.byUser.set(userId, connections);
    }
    connections.add(connection);
  }

  /** The user's open connections (a copy: closing them while iterating is safe). */
  of(userId: string): T[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  /** The user's open connections that carry no other user. */
  soleOf(userId: string): T[] {
    return this.of(userId).filter((connection) => this.usersOf.get(connection)?.size === 1);
  }

  /** How many users the connection carries (0 when it is unknown or closed). */
  usersOn(connection: T): number {
    return this.usersOf.get(connection)?.size ?? 0;
  }

  /** Users with at least one open connection. */
  get size(): number {
    return this.byUser.size;
  }

  private remove(userId: string, connection: T): void {
    const connections = this.byUser.get(userId);
    connections?.delete(connection);
    if (connections?.size === 0) this.byUser.delete(userId);
  }
}
