// What every bench server child does once its app is built: listen, say so, and exit when told.
import type { INestApplication } from '@nestjs/common';
import type { ServerReady } from './constants.js';

/**
 * Listens on 127.0.0.1 (a free port), prints one JSON line ({@link ServerReady}), and closes the
 * app, then runs `cleanups`, when told (SIGTERM/SIGINT) or when the bench goes away (IPC
 * disconnect); a close that takes over 5 s exits with 1.
 */
export async function serveChild(
  app: INestApplication,
  cleanups: ReadonlyArray<() => Promise<unknown>> = [],
): Promise<void> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  const ready: ServerReady = { url: `http://127.0.0.1:${port}`, pid: process.pid };
  console.log(JSON.stringify(ready));

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    await app.close().catch(() => undefined);
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    // A normal exit, so that --cpu-prof writes its profile.
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}
