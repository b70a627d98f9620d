// What every bench client child does with its parent: answers each IPC command once, in order
// (`{ id, ok, result }` or `{ id, ok: false, error }`), says `ready` at start, and cleans up and
// exits when the parent goes.
import type { ClientReply } from './scale-wire.js';

/**
 * Serves the parent's commands with `run`, one at a time in arrival order; `gone` runs when the
 * parent disconnects, before the child exits.
 */
export function serveCommands<T>(run: (command: T) => Promise<unknown>, gone: () => void): void {
  let queue = Promise.resolve();
  process.on('message', (message: { id: number; command: T }) => {
    queue = queue.then(async () => {
      let reply: ClientReply;
      try {
        reply = { id: message.id, ok: true, result: await run(message.command) };
      } catch (error) {
        reply = {
          id: message.id,
          ok: false,
          error: error instanceof Error ? error.message : String(error),
        };
      }
      process.send?.(reply);
    });
  });
  process.on('disconnect', () => {
    gone();
    process.exit(0);
  });
  process.send?.({ id: 0, ok: true, result: 'ready' } satisfies ClientReply);
}
