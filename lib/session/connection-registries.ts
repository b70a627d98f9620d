import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketConnectionRegistry } from '../ws-ticket.types.js';

/** Where the registries' one-time warning goes: Nest's `Logger` fits. */
interface Warner {
  warn(message: string): void;
}

/**
 * The adapters (and the guard, in guard-only apps) that hold this process's sockets, so that
 * `disconnectUser` reaches every one of them; and the one warning for an app in which nothing can.
 */
export class ConnectionRegistries {
  private readonly registries = new Set<WsTicketConnectionRegistry>();
  private warned = false;

  constructor(private readonly logger: Warner) {}

  /** Adds a registry; returns the function that removes it. */
  add(registry: WsTicketConnectionRegistry): () => void {
    this.registries.add(registry);
    return () => this.registries.delete(registry);
  }

  /** Closes the user's connections in every registry; resolves how many were closed. */
  async disconnectUser(userId: string, code: WsTicketErrorCode): Promise<number> {
    if (this.registries.size === 0) this.warnOnce();
    // One failing registry must not spare the others' sockets.
    const closed = await Promise.allSettled(
      [...this.registries].map(async (registry) => registry.disconnectUser(userId, code)),
    );
    return closed.reduce(
      (sum, result) => sum + (result.status === 'fulfilled' ? Number(result.value ?? 0) : 0),
      0,
    );
  }

  /** Passes evictions on to the registries that reach other instances. */
  announceEvictions(userId: string, ids: readonly string[]): void {
    for (const registry of this.registries) registry.announceEvictions?.(userId, ids);
  }

  private warnOnce(): void {
    if (this.warned) return;
    this.warned = true;
    this.logger.warn(
      'disconnectUser() closed no socket: no ticket adapter is registered in this app. Use ' +
        'app.useWebSocketAdapter(new WsTicketIoAdapter(app)) (or WsTicketWsAdapter for raw ' +
        'WebSockets); the tickets were revoked all the same.',
    );
  }
}
