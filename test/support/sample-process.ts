import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopChild } from './stop-child.js';

export interface SampleProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** The `JWT_SECRET` {@link startSample} gives the sample, so tests can sign tokens it accepts. */
export const SAMPLE_JWT_SECRET = 'sample-test-secret-0123456789abcdef';

/**
 * Starts the compiled sample (`sample/main.js` or another entry next to it) as a real process on a
 * free port and resolves once it listens.
 */
export function startSample(
  env: Record<string, string> = {},
  entry = 'main.js',
): Promise<SampleProcess> {
  const main = fileURLToPath(new URL(`../../sample/${entry}`, import.meta.url));
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      NO_COLOR: '1',
      JWT_SECRET: SAMPLE_JWT_SECRET,
      // In-memory mode unless a test asks for Redis, whatever the developer's shell exports.
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // The sample must exit by itself on SIGTERM (Nest's shutdown hooks): 10 s, then killed and failed.
  const stop = () =>
    stopChild(child, {
      name: 'the sample',
      graceMs: 10_000,
      mustExitOnTerm: true,
      output: () => output,
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop().catch(() => {});
      reject(new Error(`sample did not start:\n${output}`));
    }, 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening on (http:\/\/[^\s]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1].replace('[::1]', '127.0.0.1'), child, output: () => output, stop });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sample exited with ${code}:\n${output}`));
    });
  });
}

/** Logs in to the sample and returns the access token. */
export async function login(
  url: string,
  username: string,
  password = `${username}-password`,
): Promise<string> {
  const response = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 200 && response.status !== 201)
    throw new Error(`login answered ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
