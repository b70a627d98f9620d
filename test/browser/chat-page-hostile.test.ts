import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type Browser, chromium, type Route } from 'playwright-core';
import { type SampleProcess, startSample } from '../support/sample-process.js';
import { CHROMIUM_PATH, chromiumSkipReason } from '../ws/fixtures/chromium.js';
import { ChatPage, TICKET_ROUTE } from './fixtures/chat-page.js';

const skip = chromiumSkipReason();

/** How long a test watches the page, in milliseconds: a bound on counts, never a timing claim. */
const WINDOW = 2500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('The sample chat page against a hostile ticket endpoint (Chromium)', { skip }, () => {
  let browser: Browser;
  let sample: SampleProcess;
  const pages: ChatPage[] = [];

  /**
   * Signs alice in on a fresh page whose ticket requests `hostile` answers (a route registered
   * after the page's own runs first); resolves the page and a counter of ticket requests.
   */
  const signedInAgainst = async (
    hostile: (route: Route) => Promise<void>,
    prepare?: (chat: ChatPage) => Promise<unknown>,
  ) => {
    const chat = await ChatPage.open(browser, sample.url, 'alice');
    pages.push(chat);
    await prepare?.(chat);
    let requests = 0;
    await chat.page.route(TICKET_ROUTE, (route) => {
      requests++;
      return hostile(route);
    });
    await chat.signIn();
    return { chat, requests: () => requests };
  };

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    sample = await startSample();
  });
  afterEach(async () => {
    const errors = pages.flatMap((chat) => chat.errors.splice(0));
    await Promise.all(pages.splice(0).map((chat) => chat.close()));
    assert.deepEqual(errors, [], 'the page threw');
  });
  after(async () => {
    await browser?.close();
    await sample?.stop();
  });

  for (const [status, retryAfter, most] of [
    [503, '0.001', 3],
    [429, '2200000', 1],
  ] as const) {
    it(`makes at most ${most} ticket request(s) in 2.5 s against ${status} with Retry-After: ${retryAfter}`, async () => {
      const { chat, requests } = await signedInAgainst((route) =>
        route.fulfill({ status, headers: { 'retry-after': retryAfter }, body: '' }),
      );
      await chat.waitFor('reconnecting', 'ticket_request_failed');
      await sleep(WINDOW);
      assert.ok(requests() >= 1);
      assert.ok(requests() <= most, `${requests()} ticket requests in ${WINDOW} ms`);
      assert.match(await chat.notice(), new RegExp(`ticket_request_failed · HTTP ${status}`));
      assert.equal(await chat.state(), 'reconnecting');
    });
  }

  it('refuses a redirect from the ticket endpoint: its target never receives a request', async () => {
    const followed: string[] = [];
    const { chat } = await signedInAgainst(
      (route) =>
        route.fulfill({ status: 302, headers: { location: '/api/auth/ws-ticket-elsewhere' } }),
      // Routes never see the request a redirect leads to: watch the page's requests instead.
      async (chat) =>
        chat.page.on('request', (request) => {
          if (request.url().includes('/ws-ticket-elsewhere')) followed.push(request.url());
        }),
    );
    await chat.waitFor('reconnecting', 'ticket_request_failed');
    await sleep(500);
    assert.deepEqual(followed, [], 'the page followed the redirect');
    // No status: the 302 is never visible to the page.
    assert.equal(await chat.page.locator('#notice-code').textContent(), 'ticket_request_failed');
    assert.notEqual(await chat.state(), 'connected');
  });

  for (const [what, body] of [
    ['a 2 MB uuid', { uuid: 'a'.repeat(2 * 1024 * 1024), expiresIn: 30 }],
    ['a negative expiresIn', { uuid: crypto.randomUUID(), expiresIn: -1 }],
  ] as const) {
    it(`shows ticket_request_failed · HTTP 201 for ${what} and never connects`, async () => {
      const { chat } = await signedInAgainst((route) => route.fulfill({ status: 201, json: body }));
      await chat.waitFor('reconnecting', 'ticket_request_failed');
      assert.match(await chat.notice(), /ticket_request_failed · HTTP 201/);
      assert.notEqual(await chat.state(), 'connected');
    });
  }
});
