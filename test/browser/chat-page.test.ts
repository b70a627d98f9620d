import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type SampleProcess, startSample } from '../support/sample-process.js';
import { CHROMIUM_PATH, chromiumSkipReason } from '../ws/fixtures/chromium.js';
import { ChatPage, saveScreenshot } from './fixtures/chat-page.js';

describe('The sample serves its chat page (npm run sample)', () => {
  let sample: SampleProcess;
  const get = (path: string) => fetch(`${sample.url}${path}`);

  before(async () => {
    sample = await startSample();
  });
  after(() => sample.stop());

  it('serves the page at / with a same-origin Content-Security-Policy', async () => {
    const response = await get('/');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await response.text(), /<script type="module" src="\/assets\/chat\.js">/);
  });

  it('serves the page script, its stylesheet and the ticket client helper under /assets/', async () => {
    for (const [path, type] of [
      ['/assets/chat.js', 'text/javascript'],
      ['/assets/chat.css', 'text/css'],
      ['/assets/ws-ticket.client.js', 'text/javascript'],
    ]) {
      const response = await get(path);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('content-type'), `${type}; charset=utf-8`, path);
    }
  });

  it('serves every module the client helper imports, so the browser can load all of it', async () => {
    const served = new Map<string, string>();
    const pending = ['ws-ticket.client.js'];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (served.has(file)) continue;
      const response = await get(`/assets/${file}`);
      assert.equal(response.status, 200, `/assets/${file} (imported by the client helper)`);
      assert.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8', file);
      const code = await response.text();
      served.set(file, code);
      for (const [, specifier] of code.matchAll(
        /(?:import|export)[^'"]*from\s*['"]([^'"]+)['"]/g,
      )) {
        assert.match(specifier, /^\.\/[\w.-]+\.js$/, `${file} imports ${specifier}`);
        pending.push(specifier.slice(2));
      }
    }
    const code = [...served.values()].join('\n');
    for (const name of ['attachTicketAuth', 'ticketAuth', 'fetchTicket', 'ticketProtocols']) {
      assert.match(code, new RegExp(`export (async )?function ${name}\\b`), name);
    }
  });

  it('lets Socket.IO serve its ESM client at /socket.io/socket.io.esm.min.js', async () => {
    const response = await get('/socket.io/socket.io.esm.min.js');
    assert.equal(response.status, 200);
    assert.match(await response.text(), /as io\b/);
  });

  it('answers 404 to any other asset name, traversal attempts included', async () => {
    for (const path of ['/assets/index.html', '/assets/..%2Fweb.module.js', '/assets/toString']) {
      assert.equal((await get(path)).status, 404, path);
    }
  });

  it('keeps every other route under /api', async () => {
    const login = (path: string) =>
      fetch(`${sample.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: 'alice-password' }),
      });
    assert.equal((await login('/api/auth/login')).status, 200);
    assert.equal((await login('/auth/login')).status, 404);
  });
});

const skip = chromiumSkipReason();

describe('The sample chat page in a real browser (Chromium)', { skip }, () => {
  let browser: Browser;
  const samples: SampleProcess[] = [];
  const pages: ChatPage[] = [];

  const start = async (env?: Record<string, string>, entry?: string) => {
    const sample = await startSample(env, entry);
    samples.push(sample);
    return sample;
  };
  const open = async (
    url: string,
    name: string,
    init?: string,
    beforeLoad?: (page: Page) => Promise<unknown>,
  ) => {
    const chat = await ChatPage.open(browser, url, name, init, beforeLoad);
    pages.push(chat);
    return chat;
  };
  /** Opens the page, signs in and waits for the socket to connect. */
  const signedIn = async (url: string, name: string) => {
    const chat = await open(url, name);
    await chat.signIn();
    await chat.waitFor('connected');
    return chat;
  };

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  afterEach(() => {
    const errors = pages.flatMap((chat) => chat.errors.splice(0));
    assert.deepEqual(errors, [], 'the page threw');
  });
  after(async () => {
    await browser?.close();
    await Promise.all(samples.map((sample) => sample.stop()));
  });

  describe('alice and bob in two contexts', () => {
    let sample: SampleProcess;
    let alice: ChatPage;
    let bob: ChatPage;

    before(async () => {
      sample = await start();
      [alice, bob] = await Promise.all([
        signedIn(sample.url, 'alice'),
        signedIn(sample.url, 'bob'),
      ]);
    });
    after(() => Promise.all([alice?.close(), bob?.close()]));

    it('shows each user who the server says they are (whoami on /chat)', async () => {
      await alice.page.locator('#me-detail', { hasText: 'user id 1' }).waitFor();
      await bob.page.locator('#me-detail', { hasText: 'user id 2' }).waitFor();
      assert.equal(await alice.page.locator('#me').textContent(), 'alice');
      assert.equal(await bob.page.locator('#me').textContent(), 'bob');
    });

    it('shows each of them the message the other sent', async () => {
      await alice.send('Hello Bob, this socket was opened with a single-use ticket.');
      assert.deepEqual(await bob.received('Hello Bob'), {
        from: 'alice',
        text: 'Hello Bob, this socket was opened with a single-use ticket.',
      });
      await bob.send('Hi Alice! Mine too, and no JWT in any URL.');
      assert.deepEqual(await alice.received('Hi Alice'), {
        from: 'bob',
        text: 'Hi Alice! Mine too, and no JWT in any URL.',
      });
      await saveScreenshot(browser, 'browser-chat.png', [alice, bob]);
    });

    it('renders message text as text, never as HTML', async () => {
      const text = '<img src=x onerror="window.__pwned=1"><b>bold?</b>';
      await bob.send(text);
      assert.deepEqual(await alice.received('bold?'), { from: 'bob', text });
      assert.equal(await alice.page.locator('#messages img, #messages b').count(), 0);
      assert.equal(await alice.page.evaluate("'__pwned' in window"), false);
    });

    it('signs in when the Socket.IO client loads slowly: the form waits for the page script', async () => {
      // The page script awaits the Socket.IO client before it wires the form; a sign-in submitted
      // earlier used to post the form to the page itself (CI caught it under load).
      let released!: () => void;
      const slow = new Promise<void>((resolve) => {
        released = resolve;
      });
      const carol = await open(sample.url, 'carol', undefined, (page) =>
        page.route('**/socket.io/socket.io.esm.min.js', async (route) => {
          await slow;
          await route.continue();
        }),
      );
      try {
        await carol.page.fill('#username', 'carol');
        await carol.page.fill('#password', 'carol-password');
        assert.equal(await carol.page.locator('#login-submit').isDisabled(), true);
        await carol.page.press('#password', 'Enter'); // implicit submission: must do nothing
        released();
        await carol.signIn();
        await carol.waitFor('connected');
        assert.equal(new URL(carol.page.url()).pathname, '/');
      } finally {
        released();
        await carol.close();
      }
    });

    it('tells a wrong password apart in the sign-in form', async () => {
      const carol = await open(sample.url, 'carol');
      await carol.signIn('not-her-password');
      await carol.page
        .locator('#login-error', { hasText: 'Wrong username or password.' })
        .waitFor();
      assert.equal(await carol.state(), 'idle');
      await saveScreenshot(browser, 'browser-sign-in.png', [carol]);
      await carol.close();
    });

    it('shows ticket_request_unauthorized with HTTP 401 when the ticket endpoint refuses the token', async () => {
      const stale = await open(
        sample.url,
        'carol',
        "sessionStorage.setItem('ws-ticket-sample.token', 'not-a-valid-jwt')",
      );
      await stale.waitFor('closed', 'ticket_request_unauthorized');
      assert.match(await stale.notice(), /ticket_request_unauthorized · HTTP 401/);
      await stale.close();
    });

    it('reconnects both pages with fresh tickets after the server restarts on the same port', async () => {
      const earlier = await Promise.all([alice.issuedTickets(), bob.issuedTickets()]);
      const port = new URL(sample.url).port;
      await sample.stop();
      await Promise.all([alice.waitFor('reconnecting'), bob.waitFor('reconnecting')]);
      await saveScreenshot(browser, 'browser-reconnecting.png', [alice, bob]);

      sample = await start({ PORT: port });
      await Promise.all([alice.waitFor('connected'), bob.waitFor('connected')]);

      for (const [i, chat] of [alice, bob].entries()) {
        const tickets = await chat.issuedTickets();
        assert.ok(tickets.length > earlier[i].length, `${chat.name} got no new ticket`);
        assert.ok(tickets.every(Boolean), `${chat.name} got a ticket response without uuid`);
        assert.equal(new Set(tickets).size, tickets.length, `${chat.name} got a ticket twice`);
      }
      await alice.send('Back after the restart.');
      assert.equal((await bob.received('Back after the restart.')).from, 'alice');
    });

    it("closes alice's page with user_revoked when she logs out everywhere, and bob stays connected", async () => {
      await alice.page.click('#logout-all');
      await alice.waitFor('closed', 'user_revoked');
      assert.match(await alice.notice(), /Connection closed\s+user_revoked/);
      assert.equal(await alice.page.locator('#relogin').isVisible(), true);

      assert.equal(await bob.state(), 'connected');
      await bob.send('Still here after Alice left.');
      assert.equal((await bob.received('Still here after Alice left.')).from, 'bob');
      assert.equal(await bob.state(), 'connected');
      await saveScreenshot(browser, 'browser-revoked.png', [alice, bob]);
    });
  });

  describe('a server without Socket.IO (npm run sample:ws)', () => {
    it('says the page needs Socket.IO instead of offering a sign-in that cannot work', async () => {
      const sample = await start({}, 'main-ws.js');
      const chat = await open(sample.url, 'alice');
      await chat.waitFor('unavailable');
      assert.equal(await chat.page.locator('#login-view').isVisible(), false);
      assert.match(
        (await chat.page.locator('#unavailable-view').textContent()) ?? '',
        /npm run sample:ws/,
      );
      assert.equal(
        await chat.page.locator('#ws-url').textContent(),
        `${sample.url.replace(/^http/, 'ws')}/ws/chat`,
      );
      await saveScreenshot(browser, 'browser-no-socket-io.png', [chat]);
      await chat.close();
      await sample.stop();
    });
  });

  describe('a session that ends', () => {
    // WS_TICKET_REFRESH_WINDOW=0: the server never asks for a refresh, so the socket ends at its
    // JWT's exp, and the page's token is by then too old to refresh (401): a new sign-in it is.
    it('closes the page with session_expired when its session ends unrefreshed (JWT_TTL=3, WS_TICKET_REFRESH_WINDOW=0)', async () => {
      const sample = await start({ JWT_TTL: '3', WS_TICKET_REFRESH_WINDOW: '0' });
      const alice = await signedIn(sample.url, 'alice');
      await alice.waitFor('closed', 'session_expired');
      assert.match(await alice.notice(), /Connection closed\s+session_expired/);
      assert.equal(await alice.page.locator('#relogin').isVisible(), true);
      await saveScreenshot(browser, 'browser-session-expired.png', [alice]);
      await alice.close();
      await sample.stop();
    });
  });

  describe('a session kept alive by refreshes', () => {
    const token = async (chat: ChatPage) =>
      (await chat.page.evaluate("sessionStorage.getItem('ws-ticket-sample.token')")) as string;
    const expOf = (jwt: string) =>
      (JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { exp: number }).exp;
    /** Counts the page's requests to POST /api/auth/refresh. */
    const refreshRequests = (chat: ChatPage) => {
      let count = 0;
      chat.page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/api/auth/refresh') count++;
      });
      return () => count;
    };

    it('refreshes a token past half its lifetime before the ticket of a new connection (reload, JWT_TTL=4)', async () => {
      const sample = await start({ JWT_TTL: '4', WS_TICKET_REFRESH_WINDOW: '0' });
      const alice = await signedIn(sample.url, 'alice');
      const refreshes = refreshRequests(alice);
      const first = await token(alice);
      await sleep(expOf(first) * 1000 - 2000 - Date.now() + 200);
      await alice.page.reload();
      await alice.waitFor('connected');
      const second = await token(alice);
      assert.equal(refreshes(), 1);
      assert.ok(expOf(second) > expOf(first), 'the stored token was not replaced by a later one');
      await alice.close();
      await sample.stop();
    });

    it('stays on one WebSocket for 20 s while messages flow, its 5 s tokens refreshed in place (JWT_TTL=5, WS_TICKET_REFRESH_WINDOW=2)', async () => {
      const sample = await start({ JWT_TTL: '5', WS_TICKET_REFRESH_WINDOW: '2' });
      const alice = await open(sample.url, 'alice');
      const sockets: string[] = [];
      let closed = 0;
      alice.page.on('websocket', (ws) => {
        sockets.push(ws.url());
        ws.on('close', () => closed++);
      });
      const refreshes = refreshRequests(alice);
      await alice.signIn();
      await alice.waitFor('connected');
      const signedInWith = await token(alice);

      const started = Date.now();
      const stillConnected = async () => {
        const when = `after ${((Date.now() - started) / 1000).toFixed(1)} s`;
        assert.deepEqual(
          { opened: sockets.length, closed },
          { opened: 1, closed: 0 },
          `${when} the page had opened ${sockets.length} WebSocket(s) and seen ${closed} close: ` +
            "its session was not refreshed in place, it ended at its JWT's exp",
        );
        assert.deepEqual(
          await alice.page.locator('#messages .system.bad').allTextContents(),
          [],
          `${when}: the connection dropped`,
        );
        assert.equal(await alice.state(), 'connected', when);
      };
      for (let i = 1; Date.now() - started < 20_000; i++) {
        await sleep(2500);
        await stillConnected();
        const text = `Still on the first socket (#${i}).`;
        await alice.send(text);
        assert.deepEqual(await alice.received(text), { from: 'alice', text });
      }
      await stillConnected();
      // One engine.io session all along: its id is in the one WebSocket's URL.
      assert.match(sockets[0], /[?&]sid=[\w-]+/);
      // A 5 s token refreshed 2 s before its end: about every 3 s, so 6 times in 20 s.
      assert.ok(refreshes() >= 4, `the page refreshed its token ${refreshes()} times`);
      assert.ok(expOf(await token(alice)) > expOf(signedInWith) + 10, 'the stored token is old');
      const inPlace = Number(
        await alice.page.locator('#connection').getAttribute('data-refreshed'),
      );
      assert.ok(inPlace >= 4, `onRefreshed was called ${inPlace} times`);
      await saveScreenshot(browser, 'browser-session-refreshed.png', [alice]);
      await alice.close();
      await sample.stop();
    });
  });
});
