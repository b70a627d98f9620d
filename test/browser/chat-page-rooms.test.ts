// The rooms of the sample's chat page (issue #18) in a real browser: alice and bob in two
// contexts; bob cannot open order 1, alice shares it from her page, bob sees her message there,
// alice unshares, bob's page shows he left.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type SampleProcess, startSample } from '../support/sample-process.js';
import { CHROMIUM_PATH, chromiumSkipReason } from '../ws/fixtures/chromium.js';
import { ChatPage, saveScreenshot } from './fixtures/chat-page.js';
import { ChatPageRooms } from './fixtures/chat-page-rooms.js';

const skip = chromiumSkipReason();

describe('The sample chat page’s rooms in a real browser (Chromium)', { skip }, () => {
  let browser: Browser;
  let sample: SampleProcess;
  let alice: ChatPage;
  let bob: ChatPage;
  let aliceRooms: ChatPageRooms;
  let bobRooms: ChatPageRooms;

  const signedIn = async (name: string) => {
    const chat = await ChatPage.open(browser, sample.url, name);
    await chat.signIn();
    await chat.waitFor('connected');
    return chat;
  };

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    sample = await startSample();
    [alice, bob] = await Promise.all([signedIn('alice'), signedIn('bob')]);
    aliceRooms = new ChatPageRooms(alice);
    bobRooms = new ChatPageRooms(bob);
  });
  afterEach(() => {
    const errors = [alice, bob].flatMap((chat) => chat?.errors.splice(0) ?? []);
    assert.deepEqual(errors, [], 'the page threw');
  });
  after(async () => {
    await Promise.all([alice?.close(), bob?.close()]);
    await browser?.close();
    await sample?.stop();
  });

  it('lets both of them join the lobby from the room picker', async () => {
    for (const rooms of [aliceRooms, bobRooms]) {
      await rooms.click('lobby');
      await rooms.waitForJoined('lobby');
      assert.equal(await rooms.systemLine('You joined lobby.'), 'You joined lobby.');
    }
    await aliceRooms.send('lobby', 'Hello from the lobby.');
    assert.deepEqual(await bobRooms.received('Hello from the lobby.'), {
      room: 'lobby',
      from: 'alice',
      text: 'Hello from the lobby.',
    });
  });

  it('shows bob that he cannot open order 1, with its code, and leaves it unjoined', async () => {
    await bobRooms.click('order:1');
    assert.match(
      await bobRooms.systemLine('Could not join order:1'),
      /^Could not join order:1 \(room_forbidden\)\. You may not be in this room/,
    );
    assert.equal(await bobRooms.joined('order:1'), false);
    assert.deepEqual(await bobRooms.targets(), ['', 'lobby']);
  });

  it('tells bob, from the share form, that only the owner may share order 1 (403)', async () => {
    await bobRooms.share('1', 'bob');
    assert.match(
      await bobRooms.systemLine('Could not share order 1'),
      /\(forbidden · HTTP 403\)\. Only the owner of an order may share it\./,
    );
  });

  it('lets alice open order 1 and share it with bob from her page', async () => {
    await aliceRooms.click('order:1');
    await aliceRooms.waitForJoined('order:1');
    await aliceRooms.share('1', 'bob');
    await aliceRooms.systemLine('Order 1 is shared with bob.');
  });

  it('shows bob alice’s message in order 1 once he opened it', async () => {
    await bobRooms.click('order:1');
    await bobRooms.waitForJoined('order:1');
    await aliceRooms.send('order:1', 'Order 1 ships on Monday.');
    assert.deepEqual(await bobRooms.received('Order 1 ships on Monday.'), {
      room: 'order:1',
      from: 'alice',
      text: 'Order 1 ships on Monday.',
    });
    await saveScreenshot(browser, 'browser-rooms-shared.png', [alice, bob]);
  });

  it('renders a room message’s text and room as text, never as HTML', async () => {
    const text = '<img src=x onerror="window.__pwned=1"><b>bold in a room?</b>';
    await bobRooms.send('order:1', text);
    assert.deepEqual(await aliceRooms.received('bold in a room?'), {
      room: 'order:1',
      from: 'bob',
      text,
    });
    assert.equal(await alice.page.locator('#messages img, #messages b').count(), 0);
    assert.equal(await alice.page.evaluate("'__pwned' in window"), false);
  });

  it('shows bob that he left order 1 when alice unshares it, and sends him none of its messages after', async () => {
    await aliceRooms.share('1', 'bob', 'unshare');
    await aliceRooms.systemLine('Order 1 is no longer shared with bob.');
    assert.match(
      await bobRooms.systemLine('You left order:1'),
      /^You left order:1 \(room_revoked\)\. The server took you out/,
    );
    await bobRooms.waitForJoined('order:1', false);
    assert.equal(await aliceRooms.joined('order:1'), true);

    await aliceRooms.send('order:1', 'Only for alice now.');
    await aliceRooms.received('Only for alice now.');
    // Sent after the order:1 message on the same socket: once bob has it, he would have had both.
    await aliceRooms.send('lobby', 'Lobby marker after the unshare.');
    await bobRooms.received('Lobby marker after the unshare.');
    assert.equal(await bobRooms.count('Only for alice now.'), 0);
    await saveScreenshot(browser, 'browser-rooms-revoked.png', [alice, bob]);
  });

  it('keeps order 1 as the target of bob’s composer after he left, so his next message is refused, not sent to everyone', async () => {
    await bob.send('Meant for order 1.');
    assert.match(await bobRooms.systemLine('room_forbidden:'), /^room_forbidden: Only members/);
    await aliceRooms.send('lobby', 'Second lobby marker.');
    await bobRooms.received('Second lobby marker.');
    assert.equal(await aliceRooms.count('Meant for order 1.'), 0);
    assert.equal(await bobRooms.count('Meant for order 1.'), 0);
  });
});
