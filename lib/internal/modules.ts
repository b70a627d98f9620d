import type { ModulesContainer } from '@nestjs/core';

type NestModule =
  ReturnType<ModulesContainer['values']> extends IterableIterator<infer M> ? M : never;

/**
 * The first module of the app that provides `token`, found without `app.get()` (which throws, and
 * with Nest's default `abortOnError` exits the process, when the provider is missing).
 */
export function moduleProviding(
  modules: ModulesContainer,
  token: string | symbol | (abstract new (...args: never[]) => unknown),
): NestModule | undefined {
  for (const module of modules.values()) {
    if (module.providers.has(token as never)) return module;
  }
  return undefined;
}
