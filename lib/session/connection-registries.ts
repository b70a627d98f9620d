import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketConnectionRegistry } from '../ws-ticket.types.js';
import type { InstanceChannel, InstanceChannelHandlers } from './instance-channel.js';

/** Where the registries' one-time warning goes: Nest's `Logger` fits. */
interface Warner {
  warn(message: string): void;
}

/** What a revocation or an eviction from another instance does to this process's state. */
export interface RemoteEffects {
  /** Records another instance's revocation here (handshakes in flight are refused). */
  revoked(userId: string): void;
  /** Closes this process's connections among `ids` (evicted by another instance). */
  evicted(userId: string, ids: readonly string[]): void;
}

/**
 * The adapters (and the guard, in guard-only apps) that hold this process's sockets, so that
 * `disconnectUser` reaches every one of them, and through the {@link InstanceChannel} those of the
 * other instances that no Socket.IO adapter reaches; and the one warning for an app in which
 * nothing can.
 */
export class ConnectionRegistries {
  private readonly registries = new Set<WsTicketConnectionRegistry>();
  private readonly handlers: InstanceChannelHandlers;
  private warned = false;

  constructor(
    private readonly logger: Warner,
    private readonly channel: InstanceChannel,
    remote: RemoteEffects,
  ) {
    this.handlers = {
      disconnect: (userId, code) => {
        remote.revoked(userId);
        void this.closeHere(userId, code, (registry) => !registry.spansInstances);
      },
      evict: (userId, ids) => remote.evicted(userId, ids),
    };
  }

  /**
   * Adds a registry; returns the function that removes it. One that cannot reach other instances
   * by itself makes this process listen to the channel between instances.
   */
  add(registry: WsTicketConnectionRegistry): () => void {
    this.registries.add(registry);
    if (!registry.spansInstances) this.channel.listen(this.handlers);
    return () => this.registries.delete(registry);
  }

  /**
   * Closes the user's connections in every registry, then asks the other instances to close
   * theirs; resolves how many this process closed.
   * @throws WsTicketError `store_unavailable` when the other instances could not be told
   */
  async disconnectUser(userId: string, code: WsTicketErrorCode): Promise<number> {
    if (this.registries.size === 0 && !this.channel.available) this.warnOnce();
    const closed = await this.closeHere(userId, code, () => true);
    await this.channel.disconnect(userId, code);
    return closed;
  }

  /** Passes evictions on to the registries and the channel that reach other instances. */
  announceEvictions(userId: string, ids: readonly string[]): void {
    for (const registry of this.registries) registry.announceEvictions?.(userId, ids);
    this.channel.evict(userId, ids);
  }

  /**
   * Listens to the other instances before any registry joined: in guard-only apps the guard
   * registers at its first admitted socket, and a kick sent before then must not be missed.
   */
  listen(): void {
    this.channel.listen(this.handlers);
  }

  /** Resolves whether the channel listens within `timeout` (true when it need not). */
  listening(timeout: number): Promise<boolean> {
    return this.channel.listening(timeout);
  }

  /** Stops listening to the other instances. */
  close(): Promise<void> {
    return this.channel.close();
  }

  private async closeHere(
    userId: string,
    code: WsTicketErrorCode,
    which: (registry: WsTicketConnectionRegistry) => boolean,
  ): Promise<number> {
    // One failing registry must not spare the others' sockets.
    const closed = await Promise.allSettled(
      [...this.registries]
        .filter(which)
        .map(async (registry) => registry.disconnectUser(userId, code)),
    );
    return closed.reduce(
      (sum, result) => sum + (result.status === 'fulfilled' ? Number(result.value ?? 0) : 0),
      0,
    );
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
