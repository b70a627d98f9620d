/**
 * Runs `work` and settles with it, or rejects with `onTimeout()` after `ms` milliseconds, whichever
 * comes first. The timer is always cleared, so a fast call leaves nothing behind. A synchronous
 * throw from `work` rejects like an asynchronous one.
 */
export async function withTimeout<T>(
  work: () => T | PromiseLike<T>,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(work), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
