// What the telemetry attack suites share: a ledger of accept / session-end events and the
// Prometheus gauge they drive, checked for balance after each scenario.
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { collectWsTicketMetrics } from '../../lib/prometheus/index.js';
import { EventsRecorder } from '../telemetry/events-recorder.js';

type Payload = Record<string, unknown>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Records every event and counts them into a registry of its own. `balanced()` waits (bounded)
 * until every `accept` has its `session-end`, then asserts that, and that `ws_ticket_open_sockets`
 * is back to zero.
 */
export class TelemetryLedger {
  readonly recorder = new EventsRecorder();
  readonly registry = new Registry();
  private readonly stopMetrics: () => void;

  constructor(collect = true) {
    this.stopMetrics = collect ? collectWsTicketMetrics({ registry: this.registry }) : () => {};
  }

  /** Payloads published on one channel. */
  of(channel: 'accept' | 'sessionEnd' | 'refuse' | 'refresh'): Payload[] {
    return this.recorder.raw
      .filter(([key]) => key === channel)
      .map(([, message]) => message as Payload);
  }

  /** `ws_ticket_open_sockets` summed over transports. */
  async openSockets(): Promise<number> {
    const metric = this.registry.getSingleMetric('ws_ticket_open_sockets');
    if (!metric) return 0;
    const { values } = await metric.get();
    return values.reduce((sum, { value }) => sum + value, 0);
  }

  /** Waits until `check()` holds (bounded by `ms`), without failing: the caller asserts after. */
  async until(check: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check() && Date.now() < deadline) await sleep(20);
  }

  /** Asserts every accept got exactly one session-end (per user and namespace) and the gauge is 0. */
  async balanced(what: string, ms = 5000): Promise<void> {
    await this.until(() => this.of('sessionEnd').length >= this.of('accept').length, ms);
    // Late extra ends would show up here too.
    await sleep(100);
    const key = (event: Payload) => `${event.transport} ${event.namespace} ${event.userId}`;
    const tally = new Map<string, number>();
    for (const event of this.of('accept')) tally.set(key(event), (tally.get(key(event)) ?? 0) + 1);
    for (const event of this.of('sessionEnd')) {
      tally.set(key(event), (tally.get(key(event)) ?? 0) - 1);
    }
    const unbalanced = [...tally].filter(([, count]) => count !== 0);
    assert.deepEqual(unbalanced, [], `${what}: accepts minus session-ends by socket place`);
    assert.equal(await this.openSockets(), 0, `${what}: ws_ticket_open_sockets`);
  }

  stop(): void {
    this.recorder.stop();
    this.stopMetrics();
  }
}

/** Runs a full garbage collection a few times (Node's `gc`, exposed for this process). */
export async function collectGarbage(): Promise<void> {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(20);
  }
}

/** How many of the objects are still reachable after a full collection. */
export async function stillReachable(refs: readonly WeakRef<object>[]): Promise<number> {
  await collectGarbage();
  return refs.filter((ref) => ref.deref() !== undefined).length;
}
