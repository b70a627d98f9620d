import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheModule } from '@nestjs/cache-manager';
import { Injectable, Module, UseGuards } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import {
  WsTicketGuard,
  WsTicketIoAdapter,
  WsTicketModule,
  type WsTicketModuleOptions,
  type WsTicketOptionsFactory,
} from '../../lib/index.js';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import {
  requestTicket,
  type StartedApp,
  type StartOptions,
  startApp,
  ticketFor,
} from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connected } from '../support/sockets.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

const jwt = { secret: TEST_SECRET };
const alice = signJwt({ sub: '1' });

/** Starts an app that must fail, and returns the startup error's message. */
async function startupError(
  imports: unknown[],
  providers: unknown[] = [],
  options: StartOptions = {},
): Promise<string> {
  const error = await startApp(
    { imports: imports as never, providers: providers as never },
    options,
  ).then(
    async (started) => {
      await started.close();
      throw new Error('the app started');
    },
    (thrown: unknown) => thrown as Error,
  );
  return error.message;
}

/** Starts an app whose log is captured, runs `check`, and closes the app whatever happens. */
async function withApp(
  metadata: Parameters<typeof startApp>[0],
  options: StartOptions,
  check: (started: StartedApp, logger: CaptureLogger) => Promise<void>,
): Promise<void> {
  const logger = new CaptureLogger();
  const started = await startApp(metadata, { ...options, logger });
  try {
    await check(started, logger);
  } finally {
    await started.close();
  }
}

/** Connects to /chat with a ticket of alice's and asks the guarded handler who she is. */
async function assertWhoamiIsAlice(url: string): Promise<void> {
  const socket = await connected(`${url}/chat`, { auth: { uuid: await ticketFor(url, alice) } });
  try {
    assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
  } finally {
    socket.close();
  }
}

/** Lines of a captured log that contain a text. */
function linesWith(logger: CaptureLogger, text: string): string[] {
  return logger.lines.filter((line) => line.includes(text));
}

@Injectable()
class ExtrasInClassConfig implements WsTicketOptionsFactory {
  createWsTicketOptions(): WsTicketModuleOptions {
    return { jwt, isGlobal: false } as WsTicketModuleOptions;
  }
}

@Injectable()
class TypoConfig implements WsTicketOptionsFactory {
  createWsTicketOptions(): WsTicketModuleOptions {
    return { jwt, callbackTimeot: 100 } as WsTicketModuleOptions;
  }
}

/** A Socket.IO gateway with no guard: only an adapter would authenticate it. */
@WebSocketGateway({ namespace: '/open' })
class OpenGateway {
  @SubscribeMessage('ping')
  ping(): string {
    return 'pong';
  }
}

/** A raw ws gateway under WsTicketGuard. */
@WebSocketGateway({ path: '/raw' })
@UseGuards(WsTicketGuard)
class RawGuardedGateway {
  @SubscribeMessage('ping')
  ping(): string {
    return 'pong';
  }
}

describe('Startup errors name the fix', () => {
  it('a static option returned by the forRootAsync factory', async () => {
    const message = await startupError([
      WsTicketModule.forRootAsync({ useFactory: () => ({ jwt, controller: false }) as never }),
    ]);
    assert.match(
      message,
      /^WsTicketModule: `controller` was returned by the forRootAsync\(\) factory/,
    );
    assert.match(
      message,
      /pass it to forRootAsync\(\{ controller: …, useFactory \}\) beside useFactory/,
    );
  });

  it('an unknown jwt.algorithms name (an environment list split on ", ") names it and the supported ones', async () => {
    for (const [algorithms, shown] of [
      [['HS256', ' HS512'], '" HS512"'],
      [['HS257'], '"HS257"'],
    ] as const) {
      const message = await startupError([
        WsTicketModule.forRoot({ jwt: { ...jwt, algorithms: algorithms as never } }),
      ]);
      assert.match(
        message,
        /^WsTicketModule: `jwt.algorithms` names an algorithm this module does not know/,
      );
      assert.ok(message.includes(shown), message);
      assert.match(message, /trim environment values/);
      assert.match(message, /Supported: HS256, HS384, HS512, RS256/);
    }
  });

  it('a static option returned by a useClass options factory', async () => {
    const message = await startupError([
      WsTicketModule.forRootAsync({ useClass: ExtrasInClassConfig }),
    ]);
    assert.match(message, /`isGlobal` was returned by the forRootAsync\(\) factory/);
    assert.match(message, /forRootAsync\(\{ isGlobal: …, useFactory \}\)/);
  });

  it('an unknown key in forRoot, with the key it probably meant and the valid ones', async () => {
    const message = await startupError([
      WsTicketModule.forRoot({ jwt, tll: 30 } as WsTicketModuleOptions),
    ]);
    assert.match(message, /^WsTicketModule: unknown option `tll` \(did you mean `ttl`\?\)\./);
    assert.match(message, /Valid options: .*`ttl`.*`isGlobal`/);
  });

  it('an unknown key returned by a useClass factory', async () => {
    const message = await startupError([WsTicketModule.forRootAsync({ useClass: TypoConfig })]);
    assert.match(message, /unknown option `callbackTimeot` \(did you mean `callbackTimeout`\?\)/);
    // What a factory returns has no static options to offer.
    assert.doesNotMatch(message, /`isGlobal`/);
  });

  it('an unknown key inside jwt', async () => {
    const message = await startupError([
      WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET, algorithm: ['HS256'] } } as never),
    ]);
    assert.match(message, /unknown option `jwt.algorithm` \(did you mean `jwt.algorithms`\?\)/);
    assert.match(message, /Valid `jwt` options: `jwt.secret`/);
  });

  it('an environment string where a number belongs: says what arrived and how to convert it', async () => {
    const message = await startupError([
      WsTicketModule.forRootAsync({ useFactory: () => ({ jwt, ttl: '30' as unknown as number }) }),
    ]);
    assert.equal(
      message,
      'WsTicketModule: `ttl` must be a positive number of seconds (e.g. 30); received "30" (a string): convert environment values with Number(…).',
    );
  });

  it('a refreshWindow that is no number of seconds: names the option and that 0 switches it off', async () => {
    for (const refreshWindow of [-1, Number.NaN, '60' as unknown as number]) {
      const message = await startupError([WsTicketModule.forRoot({ jwt, refreshWindow })]);
      assert.match(
        message,
        /^WsTicketModule: `refreshWindow` must be a positive number of seconds \(e\.g\. 60\), or 0 for no ws-ticket:expiring event; received /,
      );
    }
  });

  it('a maxConnectionsPerUser that is no whole number of connections: names the option and how to switch it off', async () => {
    for (const maxConnectionsPerUser of [-1, 2.5, Number.NaN, true as unknown as number]) {
      const message = await startupError([WsTicketModule.forRoot({ jwt, maxConnectionsPerUser })]);
      assert.match(
        message,
        /^WsTicketModule: `maxConnectionsPerUser` must be a whole number of connections \(e\.g\. 50\), or 0 \/ false for no cap; received /,
      );
    }
    const text = await startupError([
      WsTicketModule.forRoot({ jwt, maxConnectionsPerUser: '10' as unknown as number }),
    ]);
    assert.match(text, /received "10" \(a string\): convert environment values with Number/);
  });

  it('an onConnectionLimit or connectionLease out of range: names what is allowed', async () => {
    const action = await startupError([
      WsTicketModule.forRoot({ jwt, onConnectionLimit: 'kick' as never }),
    ]);
    assert.equal(
      action,
      "WsTicketModule: `onConnectionLimit` must be 'refuse' or 'close-oldest'; received \"kick\" (a string).",
    );
    for (const connectionLease of [0, 0.5, -3, 1e7]) {
      const message = await startupError([WsTicketModule.forRoot({ jwt, connectionLease })]);
      assert.match(
        message,
        /`connectionLease` must be (a positive number of seconds|from 1 to 86400 seconds)/,
      );
    }
  });

  it('an environment string where a boolean belongs', async () => {
    const message = await startupError([
      WsTicketModule.forRoot({ jwt, closeOnSessionEnd: 'false' as unknown as boolean }),
    ]);
    assert.match(
      message,
      /`closeOnSessionEnd` must be true or false; received "false" \(a string\)/,
    );
    assert.match(message, /convert with value === 'true'/);
  });

  it('a secret of the wrong type: only its type, never its value', async () => {
    const message = await startupError([
      WsTicketModule.forRoot({ jwt: { secret: 987654321 as unknown as string } }),
    ]);
    assert.match(message, /`jwt.secret` must be a string or a Buffer; received a number\./);
    assert.doesNotMatch(message, /987654321/);
  });

  it('a missing secret (an unset environment variable) says so, without values', async () => {
    const message = await startupError([WsTicketModule.forRoot({ jwt: { secret: undefined } })]);
    assert.match(message, /received `jwt.secret` undefined \(a missing environment variable\?/);
  });

  it('WsTicketGuard where WsTicketService cannot be injected (isGlobal: false)', async () => {
    @Module({ providers: [ChatTestGateway] })
    class ChatModule {}
    const message = await startupError([
      WsTicketModule.forRoot({ jwt, isGlobal: false }),
      ChatModule,
    ]);
    assert.match(message, /^WsTicketGuard: WsTicketService cannot be injected/);
    assert.match(message, /drop `isGlobal: false`, or import the module that registers/);
    assert.doesNotMatch(message, /can't resolve dependencies/);
  });

  it('WsTicketIoAdapter in an app without WsTicketModule', async () => {
    const message = await startupError([], [OpenGateway]);
    assert.match(
      message,
      /^WsTicketIoAdapter: WsTicketService not found; import WsTicketModule\.forRoot\(\{ jwt: \{ secret \} \}\) or WsTicketModule\.forRootAsync\(\{ useFactory \}\) in the app's root module/,
    );
  });

  it('WsTicketWsAdapter in an app without WsTicketModule (a bare import registers nothing)', async () => {
    @WebSocketGateway({ path: '/raw-open' })
    class RawOpenGateway {}
    const message = await startupError([WsTicketModule], [RawOpenGateway], {
      adapter: (app) => new WsTicketWsAdapter(app),
    });
    assert.match(message, /^WsTicketWsAdapter: WsTicketService not found; import WsTicketModule/);
    assert.match(message, /a bare `imports: \[WsTicketModule\]` registers nothing/);
  });
});

describe('The module is global by default', () => {
  it('a feature module uses the guard with a bare imports: [WsTicketModule]', async () => {
    @Module({ imports: [WsTicketModule], providers: [ChatTestGateway] })
    class ChatModule {}
    await withApp({ imports: [WsTicketModule.forRoot({ jwt }), ChatModule] }, {}, (started) =>
      assertWhoamiIsAlice(started.url),
    );
  });
});

describe('Startup warnings name the fix, once, and the app still works', () => {
  it('a CacheModule WsTicketModule cannot see', async () => {
    @Module({ imports: [CacheModule.register()] })
    class CachingFeatureModule {}
    await withApp(
      { imports: [CachingFeatureModule, WsTicketModule.forRoot({ jwt })] },
      {},
      async (started, logger) => {
        const warnings = linesWith(logger, 'WsTicketModule cannot see it');
        assert.equal(warnings.length, 1, logger.lines.join('\n'));
        assert.match(warnings[0], /CacheModule\.register\(\{ isGlobal: true \}\)/);
        assert.match(warnings[0], /pass `store:`/);
        assert.equal(linesWith(logger, 'no CacheModule').length, 0);
        assert.equal((await requestTicket(started.url, alice)).status, 201);
      },
    );
  });

  it('no warning for a global CacheModule, which the module uses', async () => {
    await withApp(
      { imports: [CacheModule.register({ isGlobal: true }), WsTicketModule.forRoot({ jwt })] },
      {},
      async (_started, logger) => {
        assert.equal(linesWith(logger, 'cannot see it').length, 0);
      },
    );
  });

  it("gateways on Nest's plain IoAdapter", async () => {
    await withApp(
      { imports: [WsTicketModule.forRoot({ jwt })], providers: [ChatTestGateway] },
      { adapter: 'plain' },
      async (started, logger) => {
        const warnings = linesWith(logger, 'not on a ticket adapter');
        assert.equal(warnings.length, 1, logger.lines.join('\n'));
        assert.match(warnings[0], /^Gateways run on IoAdapter/);
        assert.match(warnings[0], /app\.useWebSocketAdapter\(new WsTicketIoAdapter\(app\)\)/);
        assert.match(warnings[0], /`guardOnly: true`/);
        // Guard-only still authenticates guarded handlers.
        await assertWhoamiIsAlice(started.url);
      },
    );
  });

  it('guardOnly: true silences it', async () => {
    await withApp(
      {
        imports: [WsTicketModule.forRoot({ jwt, guardOnly: true })],
        providers: [ChatTestGateway],
      },
      { adapter: 'plain' },
      async (_started, logger) => {
        assert.equal(linesWith(logger, 'not on a ticket adapter').length, 0);
      },
    );
  });

  it('no warning with the ticket adapter', async () => {
    await withApp(
      { imports: [WsTicketModule.forRoot({ jwt })], providers: [ChatTestGateway] },
      { adapter: (app) => new WsTicketIoAdapter(app) },
      async (_started, logger) => {
        assert.equal(linesWith(logger, 'Gateways run on').length, 0);
      },
    );
  });

  it("gateways on Nest's raw WsAdapter: the guard cannot work, even with guardOnly", async () => {
    await withApp(
      {
        imports: [WsTicketModule.forRoot({ jwt, guardOnly: true })],
        providers: [RawGuardedGateway],
      },
      { adapter: (app) => new WsAdapter(app) },
      async (started, logger) => {
        const warnings = linesWith(logger, "Gateways run on Nest's WsAdapter");
        assert.equal(warnings.length, 1, logger.lines.join('\n'));
        assert.match(warnings[0], /No WebSocket ticket was sent/);
        assert.match(warnings[0], /app\.useWebSocketAdapter\(new WsTicketWsAdapter\(app\)\)/);
        assert.match(warnings[0], /'nestjs-ws-ticket\/ws'/);
        assert.equal((await requestTicket(started.url, alice)).status, 201);
      },
    );
  });
});

describe('isGlobal: false is still supported', () => {
  it('a feature module reaches the guard through a module that re-exports WsTicketModule', async () => {
    @Module({
      imports: [WsTicketModule.forRoot({ jwt, isGlobal: false })],
      exports: [WsTicketModule],
    })
    class RealtimeAuthModule {}
    @Module({ imports: [RealtimeAuthModule], providers: [ChatTestGateway] })
    class ChatModule {}
    await withApp({ imports: [RealtimeAuthModule, ChatModule] }, {}, (started) =>
      assertWhoamiIsAlice(started.url),
    );
  });
});
