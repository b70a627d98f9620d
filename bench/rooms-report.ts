// What the rooms phase (bench/rooms.ts) measured, and how bench/RESULTS.md shows it: the section's
// body, its setting line and its targets.
import { medianOf, percentile, spread, type Target, table, withSpread } from './report.js';
import { type EmitVia, ORDERS, type RoomsVariant } from './rooms-wire.js';

/** One timed run of a join row, over all its slices. */
export interface JoinRun {
  /** Joins acked per second. */
  rate: number;
  /** Emit → ack, milliseconds. */
  p50: number;
  p99: number;
  /** Server CPU (user + system) per join, microseconds. */
  cpuPerJoin: number;
}

export interface JoinRow {
  variant: RoomsVariant;
  label: string;
  runs: JoinRun[];
}

/** One fan-out row: every timed message's figures, in the order sent. */
export interface FanoutRow {
  variant: RoomsVariant;
  via: EmitVia;
  label: string;
  /** Emit call → the last member's receipt, milliseconds, per message. */
  last: number[];
  /** The emit call's own time on the server, milliseconds, per message. */
  callMs: number[];
  /** Server CPU over the call, microseconds, per message. */
  cpu: number[];
  /** Messages that did not reach every member within the wait. */
  short: number;
}

/** One reading of a server's heap: a snapshot's census, and `heapUsed` right after it. */
export interface HeapReading {
  heapUsed: number;
  /** The snapshot's objects but compiled code and off-heap memory, bytes. */
  census: number;
}

/** One server's room state, sockets open: its heap before and after they joined. */
export interface HeapRow {
  variant: RoomsVariant;
  label: string;
  /** Sockets open at the readings. */
  sockets: number;
  before?: HeapReading;
  after?: HeapReading;
  /** Joins refused or lost; the first reason. */
  failed: number;
  error?: string;
}

export interface RoomsResult {
  join: {
    /** Sockets of a row per run, each joining `perSocket` rooms in the run, all at once. */
    sockets: number;
    perSocket: number;
    slices: number;
    /** Pause after each slice before the server's CPU time is read, milliseconds. */
    pause: number;
    rows: JoinRow[];
    /** Why the joins stopped, if they did (the runs before it stay). */
    error?: string;
  };
  fanout: {
    members: number;
    clients: number;
    warmup: number;
    messages: number;
    rows: FanoutRow[];
    /** Why the fan-out stopped, if it did. */
    error?: string;
  };
  heap: {
    sockets: number;
    roomsPerSocket: number;
    /** Distinct rooms the joins spread over. */
    rooms: number;
    clients: number;
    rows: HeapRow[];
  };
  /** Client child processes. */
  clients: number;
}

/** The issue's bounds: an authorized join keeps half the bare rate; fan-out p95 within 1.2×. */
export const ROOMS_TARGET = { joinRate: 0.5, fanoutP95: 1.2 } as const;

const PAIRS = [
  { transport: 'Socket.IO', bare: 'io-bare', ticket: 'io-ticket' },
  { transport: 'raw ws', bare: 'ws-bare', ticket: 'ws-ticket' },
] as const;

const FANOUT_PAIRS = [
  { transport: 'Socket.IO', bare: ['io-bare', 'server'], ticket: ['io-ticket', 'module'] },
  { transport: 'raw ws', bare: ['ws-bare', 'loop'], ticket: ['ws-ticket', 'module'] },
] as const;

function joinRow(result: RoomsResult, variant: RoomsVariant): JoinRow | undefined {
  return result.join.rows.find((r) => r.variant === variant);
}

function fanoutRow(
  result: RoomsResult,
  [variant, via]: readonly [RoomsVariant, EmitVia],
): FanoutRow | undefined {
  return result.fanout.rows.find((r) => r.variant === variant && r.via === via);
}

const rateOf = (row: JoinRow | undefined) => row && medianOf(row.runs, (r) => r.rate);
const p95Of = (row: FanoutRow | undefined) =>
  row?.last.length ? percentile(row.last, 0.95) : undefined;

/** The Targets rows: joins/s of the module over bare, fan-out p95 of the module over bare. */
export function roomsTargets(result: RoomsResult): Target[] {
  const x = (n: number) => `${n.toFixed(3)}×`;
  const targets: Target[] = [];
  for (const pair of PAIRS) {
    const bare = rateOf(joinRow(result, pair.bare));
    const ticket = rateOf(joinRow(result, pair.ticket));
    const ratio = bare && ticket !== undefined ? ticket / bare : undefined;
    const failed = result.join.error;
    targets.push({
      name: `${pair.transport}: authorized joins/s (\`ws-ticket:join\`, a rule) ≥ ${ROOMS_TARGET.joinRate}× a bare join handler`,
      value: failed
        ? `failed: ${failed}`
        : ratio === undefined
          ? 'not measured'
          : `${ticket!.toFixed(0)}/s vs ${bare!.toFixed(0)}/s (${x(ratio)})`,
      met: failed ? false : ratio === undefined ? undefined : ratio >= ROOMS_TARGET.joinRate,
    });
  }
  for (const pair of FANOUT_PAIRS) {
    const bareRow = fanoutRow(result, pair.bare);
    const ticketRow = fanoutRow(result, pair.ticket);
    const bare = p95Of(bareRow);
    const ticket = p95Of(ticketRow);
    const ratio = bare && ticket !== undefined ? ticket / bare : undefined;
    const whole = !bareRow?.short && !ticketRow?.short;
    targets.push({
      name:
        `${pair.transport}: ${result.fanout.members}-member room, p95 emit → last receipt ` +
        `with \`WsTicketRooms.to().emit\` ≤ ${ROOMS_TARGET.fanoutP95}× ` +
        (pair.bare[1] === 'server' ? 'bare `server.to().emit`' : 'a bare hand loop'),
      value: result.fanout.error
        ? `failed: ${result.fanout.error}`
        : ratio === undefined
          ? 'not measured'
          : `${ticket!.toFixed(2)} ms vs ${bare!.toFixed(2)} ms (${x(ratio)})` +
            (whole ? '' : ', some messages did not reach every member'),
      met: result.fanout.error
        ? false
        : ratio === undefined
          ? undefined
          : whole && ratio <= ROOMS_TARGET.fanoutP95,
    });
  }
  return targets;
}

export function roomsSetting(result: RoomsResult): string {
  const { join, fanout, heap } = result;
  return (
    `Rooms: four fresh server children (Socket.IO and raw ws, bare and module); joins per run and ` +
    `row ${join.sockets} sockets × ${join.perSocket}, ${join.sockets} in flight, ` +
    `${join.slices} slices; fan-out to ${fanout.members.toLocaleString('en-US')} members held by ` +
    `${fanout.clients} client children, ${fanout.messages} timed messages per row after ` +
    `${fanout.warmup}; room state at ${heap.sockets.toLocaleString('en-US')} sockets × ` +
    `${heap.roomsPerSocket} rooms`
  );
}

const f0 = (n: number) => n.toFixed(0);
const f2 = (n: number) => n.toFixed(2);
const kib = (bytes: number) => (bytes / 1024).toFixed(2);

/** The body of the section: what was done, the three tables. */
export function roomsSection(result: RoomsResult): string[] {
  const { join, fanout, heap } = result;
  const out: string[] = [];
  out.push(
    'What room authorization (issue #18) costs against rooms without it. Four server children ' +
      "started for this section: (a) Socket.IO on Nest's `IoAdapter`, no module, a gateway " +
      'handler `join` that calls `socket.join(room)` and acks `{ ok: true, room }`; (b) ' +
      '`WsTicketIoAdapter` with the module (memory store, defaults: `maxRoomsPerSocket` 100, ' +
      '`roomJoinLimit` 50 per 10 s), whose clients send `ws-ticket:join` `{ room }` with an ack, ' +
      "decided by an `@WsTicketRoom('order:{id}')` rule on a provider that asks an in-memory map " +
      `of ${ORDERS.toLocaleString('en-US')} orders through an injected service, and ` +
      "`rooms: { lobby: true }`; (c) raw ws on Nest's `WsAdapter`, no module, a `join` handler " +
      'adding the socket to a Map of Sets (and the room to a per-socket Set, emptied at close) ' +
      'and answering a `join` frame; (d) `WsTicketWsAdapter` with the same module setup, ' +
      '`{"event":"ws-ticket:join","data":{"room":…}}` frames. The clients run in ' +
      `${result.clients} client child processes (socket.io-client 4.8.3 over WebSocket, ws 8).`,
    '',
  );

  out.push('### Joins', '');
  out.push(
    `Per run and row, ${join.sockets} sockets of their own (a socket may try 50 joins per 10 s), ` +
      'all opened before the first run by one client child (with a ticket each on (b) and (d)); ' +
      `in its run each joins ${join.perSocket} different \`order:<n>\` rooms one after the ` +
      'other, waiting for each ack (every ack checked: `ok: true`), the ' +
      `${join.sockets} sockets side by side, so ${join.sockets} joins are in flight. The four ` +
      `rows take turns in ${join.slices} slices per run, the order rotating, after a minor GC ` +
      "of each server; the server's CPU time is read around each slice (after a " +
      `${join.pause} ms pause). One warm-up run, then the timed ones; a run's sockets are ` +
      'closed after it. Before the runs, each server is checked to put a joining socket in the ' +
      "room (its own count), and the module's servers to refuse the private order " +
      '(`room_forbidden`).',
    '',
  );
  const baseOf = (variant: RoomsVariant) =>
    joinRow(result, variant.replace('ticket', 'bare') as RoomsVariant);
  out.push(
    table(
      ['Server', 'Joins/s', '× bare', 'p50 ms', 'p99 ms', 'Server CPU µs/join', 'CPU × bare'],
      join.rows.map((r) => {
        if (r.runs.length === 0) return [r.label, 'not measured', '', '', '', '', ''];
        const base = baseOf(r.variant);
        const ratio = (pick: (run: JoinRun) => number) => {
          if (r.variant.endsWith('bare') || !base) return '—';
          const b = medianOf(base.runs, pick);
          return b ? `${(medianOf(r.runs, pick)! / b).toFixed(3)}×` : '';
        };
        return [
          r.label,
          withSpread(spread(r.runs.map((x) => x.rate)), f0),
          ratio((x) => x.rate),
          withSpread(spread(r.runs.map((x) => x.p50)), f2),
          withSpread(spread(r.runs.map((x) => x.p99)), f2),
          withSpread(spread(r.runs.map((x) => x.cpuPerJoin)), f0),
          ratio((x) => x.cpuPerJoin),
        ];
      }),
    ),
    '',
  );
  const paired = PAIRS.flatMap((pair) => {
    const bare = joinRow(result, pair.bare)?.runs ?? [];
    const ticket = joinRow(result, pair.ticket)?.runs ?? [];
    if (!bare.length || bare.length !== ticket.length) return [];
    const ratios = ticket.map((run, i) => run.rate / bare[i].rate);
    return [`${pair.transport} ${withSpread(spread(ratios), (n) => n.toFixed(3))}`];
  });
  if (paired.length)
    out.push(`Joins/s of the module ÷ bare within each run: ${paired.join(', ')}.`, '');
  if (join.error) out.push(`**The joins stopped: ${join.error}**`, '');

  out.push('### Fan-out to one room', '');
  out.push(
    `${fanout.members.toLocaleString('en-US')} sockets per server (the first of the room state ` +
      `rows' sockets, held by ${fanout.clients} client children, half each) join the room ` +
      '`lobby` (through `ws-ticket:join` on (b) and (d), admitted by the `rooms` option); the ' +
      "server's own count of the room's members is checked before the messages. A bench hook on " +
      'the server then sends one message (`tick`, `{ seq, sent, text }`, 64 characters of text) ' +
      'to the room: `sent` is read right before the call, each client notes ' +
      "when each of its sockets got it, and a message's figure is the last member's receipt " +
      'minus `sent` (both `performance.timeOrigin + performance.now()`, the same clock in every ' +
      'process). One message at a time: the next is sent once every member got the last. The rows ' +
      `take turns message by message, the order rotating; ${fanout.warmup} untimed rounds first. ` +
      '"Call ms" is the emit call itself on the server (until its promise settles, for ' +
      '`WsTicketRooms`), "CPU" the server\'s CPU time over it. On (b) the same sockets get ' +
      "both Socket.IO's `server.to(room).emit` (the gateway's namespace) and " +
      '`WsTicketRooms.to(room).emit` (every namespace of the server); on (d) a hand loop sending ' +
      'one prepared frame to every client of the gateway (all of them in the room) and ' +
      '`WsTicketRooms.to(room).emit` (its registry).',
    '',
  );
  const base = (row: FanoutRow) =>
    row.variant.startsWith('io')
      ? fanoutRow(result, ['io-bare', 'server'])
      : fanoutRow(result, ['ws-bare', 'loop']);
  out.push(
    table(
      [
        'Server, call',
        'Messages',
        'p50 ms',
        'p95 ms',
        'p95 × bare',
        'max ms',
        'Call ms (p50)',
        'Server CPU µs/message (p50)',
      ],
      fanout.rows.map((r) => {
        const label = r.label;
        if (r.last.length === 0) return [label, 'not measured', '', '', '', '', '', ''];
        const b = base(r);
        const bp95 = p95Of(b);
        const p95 = percentile(r.last, 0.95);
        return [
          label,
          `${r.last.length}${r.short ? ` (${r.short} short)` : ''}`,
          f2(percentile(r.last, 0.5)),
          f2(p95),
          b === r || !bp95 ? '—' : `${(p95 / bp95).toFixed(3)}×`,
          f2(Math.max(...r.last)),
          f2(percentile(r.callMs, 0.5)),
          f0(percentile(r.cpu, 0.5)),
        ];
      }),
    ),
    '',
  );

  if (fanout.error) out.push(`**The fan-out stopped: ${fanout.error}**`, '');

  out.push('### Room state in memory', '');
  out.push(
    `On each server (the four side by side), ${heap.sockets.toLocaleString('en-US')} sockets (opened by ` +
      `${heap.clients} client children before the joins above, so that the module has forgotten ` +
      "their tickets' consumptions, kept 10 s after a handshake) are read idle; then each joins " +
      `${heap.roomsPerSocket} \`order:<n>\` rooms (spread over ` +
      `${heap.rooms.toLocaleString('en-US')} rooms, ` +
      `${((heap.sockets * heap.roomsPerSocket) / heap.rooms).toFixed(0)} members each), and the ` +
      'server is read again, every socket still open. The difference is what the rooms cost: ' +
      "Socket.IO's adapter maps (both directions), the bare registry's Sets, and with the module " +
      "each socket's join state (its joined rooms, the joins in flight, the attempt window; on " +
      'Socket.IO a copy of the list in `socket.data` for recovery) and its registry on raw ws. A ' +
      'reading is a heap snapshot written by the server (V8 collects all it can first), its ' +
      "objects' self sizes summed, compiled code (`code` nodes: bytecode, optimized code, which " +
      'V8 compiles and flushes as it likes) and off-heap `native` nodes left out. `heapUsed`, ' +
      'read right after the snapshot, is shown beside it: it counts the compiled code too, and ' +
      'after the forced full GCs of section 11 it moved by up to ±0.5 MB between two readings of ' +
      "an idle server here, as much as the module's whole share.",
    '',
  );
  const heapBase = (row: HeapRow) =>
    heap.rows.find((r) => r.variant === row.variant.replace('ticket', 'bare'));
  const perSocket = (row: HeapRow | undefined, pick: (reading: HeapReading) => number) =>
    row?.before && row.after && row.sockets
      ? (pick(row.after) - pick(row.before)) / row.sockets
      : undefined;
  const census = (reading: HeapReading) => reading.census;
  const used = (reading: HeapReading) => reading.heapUsed;
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
  out.push(
    table(
      [
        'Server',
        'Sockets',
        'Heap before MB',
        'Heap with rooms MB',
        'KiB per socket',
        'Bytes per membership',
        'Module − bare, KiB per socket',
        '`heapUsed` KiB per socket',
      ],
      heap.rows.map((r) => {
        const cost = perSocket(r, census);
        if (cost === undefined) {
          return [r.label, `not measured: ${r.error ?? ''}`, '', '', '', '', '', ''];
        }
        const bare = perSocket(heapBase(r), census);
        return [
          r.label,
          `${r.sockets.toLocaleString('en-US')}${r.failed ? ` (${r.failed} joins failed: ${r.error})` : ''}`,
          mb(r.before!.census),
          mb(r.after!.census),
          kib(cost),
          f0(cost / heap.roomsPerSocket),
          r.variant.endsWith('bare') || bare === undefined ? '—' : kib(cost - bare),
          kib(perSocket(r, used)!),
        ];
      }),
    ),
    '',
  );
  return out;
}
