import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { Socket } from 'socket.io-client';
import { requestTicket, ticketFor } from '../support/app.js';
import { login, type SampleProcess, startSample } from '../support/sample-process.js';
import { ANSWER_WAIT_MS, connect, next } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import { closure, openWs } from '../ws/fixtures/ws-app.js';

/** One sample of the Prometheus text format: `name{label="value",…} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Reads the text exposition format (comments skipped, label escapes undone). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

interface Scrape {
  text: string;
  samples: Sample[];
  /** The value of the series with exactly these labels; 0 when it is not exposed yet. */
  value(name: string, labels?: Record<string, string>): number;
}

async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), new Registry().contentType);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  const text = await response.text();
  const samples = parseExposition(text);
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length &&
    Object.entries(b).every(([key, value]) => a[key] === value);
  return {
    text,
    samples,
    value: (name, labels = {}) =>
      samples.find((sample) => sample.name === name && same(sample.labels, labels))?.value ?? 0,
  };
}

/** How a transport's client opens, is refused and is closed, for the same scenario. */
interface Transport {
  entry: string;
  label: 'socket.io' | 'ws';
  /** Opens the chat socket with a ticket; resolves the refusal code when refused. */
  open(url: string, ticket: string): Promise<{ ok: true; close: Promise<string> } | string>;
}

const TRANSPORTS: Transport[] = [
  {
    entry: 'main.js',
    label: 'socket.io',
    async open(url, ticket) {
      const outcome = await connect(`${url}/chat`, { auth: { uuid: ticket } });
      if (!outcome.ok) return String(outcome.code);
      const socket: Socket = outcome.socket;
      const close = next<{ code: string }>(socket, 'unauthorized').then(({ code }) => code);
      return { ok: true, close };
    },
  },
  {
    entry: 'main-ws.js',
    label: 'ws',
    async open(url, ticket) {
      const outcome = await openWs(
        `${url.replace(/^http/, 'ws')}/ws/chat?uuid=${encodeURIComponent(ticket)}`,
      );
      if (!outcome.ok) return String(outcome.code);
      const closed = withDeadline(closure(outcome.ws), ANSWER_WAIT_MS, 'waiting for the close');
      return { ok: true, close: closed.then(({ reason }) => reason) };
    },
  },
];

for (const transport of TRANSPORTS) {
  describe(`The sample's GET /metrics (${transport.entry}, ${transport.label})`, () => {
    let sample: SampleProcess;
    before(async () => {
      sample = await startSample({}, transport.entry);
    });
    after(() => sample.stop());

    it('serves the Prometheus format outside the api prefix, with process metrics', async () => {
      const metrics = await scrape(sample.url);
      const types = {
        ws_ticket_issued_total: 'counter',
        ws_ticket_issue_refused_total: 'counter',
        ws_ticket_handshakes_total: 'counter',
        ws_ticket_handshake_duration_seconds: 'histogram',
        ws_ticket_sessions_ended_total: 'counter',
        ws_ticket_open_sockets: 'gauge',
        ws_ticket_session_refreshes_total: 'counter',
        ws_ticket_revocations_total: 'counter',
      };
      for (const [name, type] of Object.entries(types)) {
        assert.ok(metrics.text.includes(`\n# TYPE ${name} ${type}\n`), name);
      }
      assert.equal(metrics.value('ws_ticket_issued_total'), 0);
      assert.ok(metrics.samples.some((s) => s.name === 'process_cpu_user_seconds_total'));
      assert.equal((await fetch(`${sample.url}/api/metrics`)).status, 404);
    });

    it('counts an issue, an accept, two refusals and a revocation, and exposes no user or secret', async () => {
      const { url } = sample;
      const t = { transport: transport.label };
      const token = await login(url, 'alice');
      const initial = await scrape(url);
      const delta = (now: Scrape, name: string, labels?: Record<string, string>) =>
        now.value(name, labels) - initial.value(name, labels);

      const ticket = await ticketFor(url, token, '/api/auth/ws-ticket');
      const socket = await transport.open(url, ticket);
      assert.ok(typeof socket !== 'string', `refused: ${socket}`);
      assert.equal(await transport.open(url, 'not-a-ticket'), 'ticket_malformed');
      const unknown = randomUUID();
      assert.equal(await transport.open(url, unknown), 'ticket_invalid');
      const during = await scrape(url);
      assert.equal(delta(during, 'ws_ticket_open_sockets', t), 1);

      const logout = await fetch(`${url}/api/auth/logout-all`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(logout.status, 204);
      assert.equal(await socket.close, 'user_revoked');
      // The token's session ended: its ticket request is refused by the module (resolveUser).
      const refused = await requestTicket(url, token, '/api/auth/ws-ticket');
      assert.equal(refused.status, 401);
      assert.equal(((await refused.json()) as { code: string }).code, 'user_rejected');

      // The server counts a raw WebSocket's end when its close handshake completes, which may be
      // just after the client saw the close frame.
      const deadline = Date.now() + ANSWER_WAIT_MS;
      let settled = await scrape(url);
      while (delta(settled, 'ws_ticket_open_sockets', t) !== 0 && Date.now() < deadline) {
        await sleep(20);
        settled = await scrape(url);
      }
      const changes = {
        issued: delta(settled, 'ws_ticket_issued_total'),
        issueRefused: delta(settled, 'ws_ticket_issue_refused_total', { code: 'user_rejected' }),
        accepted: delta(settled, 'ws_ticket_handshakes_total', { result: 'accepted', ...t }),
        malformed: delta(settled, 'ws_ticket_handshakes_total', {
          result: 'refused',
          code: 'ticket_malformed',
          ...t,
        }),
        invalid: delta(settled, 'ws_ticket_handshakes_total', {
          result: 'refused',
          code: 'ticket_invalid',
          ...t,
        }),
        acceptedTimed: delta(settled, 'ws_ticket_handshake_duration_seconds_count', {
          result: 'accepted',
          ...t,
        }),
        refusedTimed: delta(settled, 'ws_ticket_handshake_duration_seconds_count', {
          result: 'refused',
          ...t,
        }),
        revoked: delta(settled, 'ws_ticket_sessions_ended_total', { code: 'user_revoked', ...t }),
        openSockets: delta(settled, 'ws_ticket_open_sockets', t),
        ticketRevocations: delta(settled, 'ws_ticket_revocations_total', { action: 'tickets' }),
        disconnects: delta(settled, 'ws_ticket_revocations_total', { action: 'disconnect' }),
      };
      assert.deepEqual(changes, {
        issued: 1,
        issueRefused: 1,
        accepted: 1,
        malformed: 1,
        invalid: 1,
        acceptedTimed: 1,
        refusedTimed: 2,
        revoked: 1,
        openSockets: 0,
        ticketRevocations: 1,
        disconnects: 1,
      });
      // An accepted handshake has no code label.
      const handshakes = settled.samples.filter((s) => s.name === 'ws_ticket_handshakes_total');
      for (const s of handshakes.filter((s) => s.labels.result === 'accepted')) {
        assert.equal(s.labels.code, undefined);
      }

      for (const metrics of [initial, during, settled]) {
        for (const secret of [ticket, unknown, token, 'eyJ', 'alice']) {
          assert.equal(metrics.text.includes(secret), false, 'a ticket, JWT or username leaked');
        }
        assert.doesNotMatch(metrics.text, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-/i);
        const labels = metrics.samples
          .filter((s) => s.name.startsWith('ws_ticket_'))
          .flatMap((s) => Object.entries(s.labels).filter(([key]) => key !== 'le'))
          .map(([, value]) => value);
        assert.equal(labels.includes('1'), false, "alice's user id is a label value");
      }
    });
  });
}
