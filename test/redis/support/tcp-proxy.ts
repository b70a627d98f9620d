import { connect, createServer, type Socket } from 'node:net';

/**
 * A loopback TCP relay in front of a real Redis. Cutting it is a network outage: relayed
 * connections are reset and new ones reset as soon as they arrive, while Redis itself keeps running
 * and keeps its data.
 */
export interface TcpProxy {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Connections reset on arrival while cut, since the start. */
  readonly attempts: number;
  /** Resets every relayed connection; new ones are reset until {@link restore}. */
  cut(): Promise<void>;
  /** Relays new connections again. */
  restore(): void;
  /** Stops listening and resets everything. */
  close(): Promise<void>;
}

/** Starts a relay from a free loopback port to `127.0.0.1:<targetPort>`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let down = false;
  let attempts = 0;

  const server = createServer((downstream) => {
    if (down) {
      attempts++;
      downstream.on('error', () => {});
      downstream.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(downstream);
    sockets.add(upstream);
    const drop = () => {
      downstream.destroy();
      upstream.destroy();
      sockets.delete(downstream);
      sockets.delete(upstream);
    };
    downstream.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };

  const resetAll = async () => {
    const closing = [...sockets].map(
      (socket) => new Promise<void>((resolve) => socket.once('close', () => resolve())),
    );
    for (const socket of sockets) {
      if (socket.destroyed) continue;
      socket.on('error', () => {});
      socket.resetAndDestroy();
    }
    await Promise.all(closing);
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get attempts() {
      return attempts;
    },
    async cut() {
      down = true;
      await resetAll();
    },
    restore() {
      down = false;
    },
    async close() {
      down = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await resetAll();
      await closed;
    },
  };
}
