import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import { CHROMIUM_PATH, chromiumSkipReason } from './fixtures/chromium.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from './fixtures/gateways.js';
import { type StartedWsApp, startWsApp } from './fixtures/ws-app.js';

/** What the page saw: the socket opened (with its protocol and whoami answer) or closed first. */
type BrowserOutcome =
  | { open: true; protocol: string; whoami: unknown }
  | { open: false; code: number };

const skip = chromiumSkipReason();

describe('raw WebSocket tickets from a real browser (Chromium)', { skip }, () => {
  let server: StartedWsApp;
  let browser: Browser;
  let page: Page;
  const ticket = () => ticketFor(server.url, signJwt({ sub: 'alice' }));

  /** Runs `new WebSocket(url, protocols)` in the page, as the README shows it. */
  function browserConnect(url: string, protocols?: string[]): Promise<BrowserOutcome> {
    return page.evaluate(
      ([url, protocols]) =>
        new Promise<BrowserOutcome>((resolve) => {
          const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
          ws.onopen = () => ws.send(JSON.stringify({ event: 'whoami' }));
          ws.onmessage = (message) => {
            resolve({ open: true, protocol: ws.protocol, whoami: JSON.parse(message.data).data });
            ws.close();
          };
          ws.onclose = (event) => resolve({ open: false, code: event.code });
        }),
      [url, protocols] as const,
    );
  }

  before(async () => {
    server = await startWsApp({
      imports: [ticketModule()],
      providers: [EchoWsGateway, ConnectionLog],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('connects with new WebSocket(url) and the ticket in ?uuid=', async () => {
    const outcome = await browserConnect(`${server.wsUrl}/ws?uuid=${await ticket()}`);
    assert.deepEqual(outcome, { open: true, protocol: '', whoami: { id: 'alice' } });
  });

  it("connects with the ticket in ['ws-ticket', 'ws-ticket.<uuid>'] and sees protocol ws-ticket", async () => {
    const uuid = await ticket();
    const outcome = await browserConnect(`${server.wsUrl}/ws`, ['ws-ticket', `ws-ticket.${uuid}`]);
    assert.deepEqual(outcome, { open: true, protocol: 'ws-ticket', whoami: { id: 'alice' } });
  });

  it('connects with an app subprotocol beside the ticket entries and sees that protocol', async () => {
    const uuid = await ticket();
    const outcome = await browserConnect(`${server.wsUrl}/ws`, [
      'chat.v1',
      'ws-ticket',
      `ws-ticket.${uuid}`,
    ]);
    assert.deepEqual(outcome, { open: true, protocol: 'chat.v1', whoami: { id: 'alice' } });
  });

  it('never opens a refused upgrade: the page only sees close code 1006', async () => {
    const outcome = await browserConnect(`${server.wsUrl}/ws?uuid=not-a-ticket`);
    assert.deepEqual(outcome, { open: false, code: 1006 });
  });
});
