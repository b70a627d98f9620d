import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WsTicketModule, type WsTicketModuleOptions, WsTicketService } from '../../lib/index.js';
import { checkOptionKeys } from '../../lib/internal/option-keys.js';
import { createTelemetry } from '../../lib/telemetry/telemetry.provider.js';
import { startApp } from '../support/app.js';
import { run } from '../support/commands.js';
import { TEST_SECRET } from '../support/jwt.js';

const jwt = { secret: TEST_SECRET };

/** Starts an app with these module options (from forRoot or a factory) and returns the error. */
async function startupError(options: Record<string, unknown>, async = false): Promise<string> {
  const module = async
    ? WsTicketModule.forRootAsync({ useFactory: () => options as WsTicketModuleOptions })
    : WsTicketModule.forRoot(options as WsTicketModuleOptions);
  return startApp({ imports: [module] }).then(
    async (started) => {
      await started.close();
      throw new Error('the app started');
    },
    (thrown: unknown) => (thrown as Error).message,
  );
}

/** Whether the started app records with OpenTelemetry. */
async function recording(module: ReturnType<typeof WsTicketModule.forRoot>): Promise<boolean> {
  const started = await startApp({ imports: [module] });
  try {
    return started.app.get(WsTicketService).telemetry.recording;
  } finally {
    await started.close();
  }
}

/**
 * Runs `createTelemetry(value)` for each value in a Node process where `@opentelemetry/api` cannot
 * be found (a resolve hook refuses it as a missing package would be); one line of output each.
 */
async function withoutOpenTelemetry(values: unknown[]): Promise<string[]> {
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier !== '@opentelemetry/api') return next(specifier, context);
    const error = new Error("Cannot find package '@opentelemetry/api' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }`;
  const register = `import { register } from 'node:module';
    register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  const provider = new URL('../../lib/telemetry/telemetry.provider.js', import.meta.url).href;
  const script = `const { createTelemetry } = await import(${JSON.stringify(provider)});
    for (const value of [${values.map(String).join(', ')}]) {
      try { console.log('recording:', (await createTelemetry(value)).recording); }
      catch (error) { console.log('error:', error.message); }
    }`;
  const result = await run(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(register)}`,
      '--input-type=module',
      '-e',
      script,
    ],
    { cwd: process.cwd(), deadline: 30_000 },
  );
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split('\n');
}

describe('The openTelemetry option', () => {
  it("refuses the string 'true' at startup, naming the option and how to convert environment values", async () => {
    for (const async of [false, true]) {
      const message = await startupError({ jwt, openTelemetry: 'true' }, async);
      assert.ok(
        message.startsWith('WsTicketModule: `openTelemetry` must be true or false'),
        message,
      );
      assert.ok(message.includes('received "true" (a string)'), message);
      assert.ok(
        message.includes("environment values are strings, convert with value === 'true'"),
        message,
      );
    }
  });

  it('refuses a number at startup, without the environment hint', async () => {
    const message = await startupError({ jwt, openTelemetry: 1 });
    assert.ok(message.includes('`openTelemetry` must be true or false'), message);
    assert.ok(message.includes('received 1 (a number)'), message);
    assert.ok(!message.includes('environment'), message);
  });

  it('accepts openTelemetry: false from a forRootAsync factory, and records nothing', async () => {
    const module = WsTicketModule.forRootAsync({
      useFactory: () => ({ jwt, openTelemetry: false }),
    });
    assert.equal(await recording(module), false);
  });

  it('records when left unset or true, since @opentelemetry/api is installed here', async () => {
    assert.equal(await recording(WsTicketModule.forRoot({ jwt })), true);
    assert.equal(await recording(WsTicketModule.forRoot({ jwt, openTelemetry: true })), true);
  });

  it('suggests openTelemetry for the key opentelemetry, in forRoot and from a factory', async () => {
    for (const source of ['forRoot', 'factory'] as const) {
      assert.throws(
        () => checkOptionKeys({ jwt, opentelemetry: false }, source),
        /unknown option `opentelemetry` \(did you mean `openTelemetry`\?\)/,
      );
    }
    const message = await startupError({ jwt, opentelemetry: false }, true);
    assert.match(message, /did you mean `openTelemetry`\?/);
  });

  it('builds the recorder from the option: off for false, on otherwise when the package loads', async () => {
    assert.equal((await createTelemetry(false)).recording, false);
    assert.equal((await createTelemetry(undefined)).recording, true);
    assert.equal((await createTelemetry(true)).recording, true);
    await assert.rejects(createTelemetry('false'), /`openTelemetry` must be true or false/);
  });

  it('without @opentelemetry/api: unset is off, true fails with the install command', async () => {
    const [unset, off, on] = await withoutOpenTelemetry([undefined, false, true]);
    assert.equal(unset, 'recording: false');
    assert.equal(off, 'recording: false');
    assert.ok(on.startsWith('error: WsTicketModule: `openTelemetry: true` needs'), on);
    assert.ok(on.includes('npm install @opentelemetry/api'), on);
  });
});
