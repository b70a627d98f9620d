// Counts the commands clients send to Redis while some work runs, through MONITOR: the commands a
// Lua script runs are listed too (as `[0 lua]`) but are no round trip, so they are left out, which
// `INFO commandstats` cannot do.
import { connect, type Socket } from 'node:net';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Runs `work` and resolves the round trips clients made meanwhile, by lowercase command name (the
 * bench's own marker excluded).
 */
export async function countRoundTrips(
  port: number,
  work: () => Promise<void>,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const marker = `bench-trips-${process.pid}-${Date.now()}`;
  const monitor = await open(port);
  let buffer = '';
  let markerSeen: () => void = () => {};
  const seen = new Promise<void>((resolve) => {
    markerSeen = resolve;
  });
  monitor.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let end = buffer.indexOf('\r\n');
    while (end !== -1) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\r\n');
      // +1700000000.123456 [0 127.0.0.1:50000] "GETDEL" "…"   or   … [0 lua] "get" "…"
      const match = /^\+\d+\.\d+ \[([^\]]*)\] "([^"]*)"(?: "([^"]*)")?/.exec(line);
      if (!match || match[1].endsWith(' lua')) continue;
      const name = match[2].toLowerCase();
      if (name === 'echo' && match[3] === marker) {
        markerSeen();
        continue;
      }
      counts[name] = (counts[name] ?? 0) + 1;
    }
  });
  await new Promise<void>((resolve) => {
    monitor.once('data', () => resolve());
    monitor.write('MONITOR\r\n');
  });
  try {
    await work();
    // Everything sent before the marker has been listed once the marker is.
    const side = await open(port);
    side.write(`ECHO ${marker}\r\n`);
    await seen;
    side.destroy();
  } finally {
    monitor.destroy();
  }
  return counts;
}
