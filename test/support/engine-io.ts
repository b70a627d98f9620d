import WebSocket from 'ws';

/** What the server answered a namespace CONNECT with. */
export type RawConnectAnswer =
  | { ok: true; sid: string }
  | { ok: false; code: string | undefined }
  | { ok: false; closed: true; code?: undefined };

/**
 * A Socket.IO connection spoken in raw engine.io frames over `ws`, as an attacker would: no client
 * library, any packet. Answers pings, records every packet, and reports the close.
 */
export class RawEngineIo {
  readonly packets: string[] = [];
  closed = false;
  /** The engine.io session id from the open packet. */
  sid = '';
  private readonly waiters: Array<() => void> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const packet = String(data);
      if (packet === '2') {
        socket.send('3');
        return;
      }
      this.packets.push(packet);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  /** Opens `ws://…/socket.io/?EIO=4&transport=websocket[&query]` and waits for the open packet. */
  static async open(url: string, query = ''): Promise<RawEngineIo> {
    const target = `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket${query}`;
    const raw = new RawEngineIo(new WebSocket(target));
    const open = await raw.until((packet) => packet.startsWith('0'));
    raw.sid = String((JSON.parse(open?.slice(1) ?? '{}') as { sid?: string }).sid);
    return raw;
  }

  /**
   * A transport that used `uuid` on `namespace` and left it again, still open: what tries to come
   * back in with a spent ticket. Fails unless the namespace accepted the ticket.
   */
  static async idle(url: string, namespace: string, uuid: string): Promise<RawEngineIo> {
    const raw = await RawEngineIo.open(url);
    const answer = await raw.connect(namespace, { uuid });
    if (!answer.ok) throw new Error(`${namespace} refused the ticket: ${answer.code ?? 'closed'}`);
    raw.leave(namespace);
    // Socket.IO handles a DISCONNECT a tick late: a CONNECT right behind it would find it taken.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return raw;
  }

  /** Sends one raw packet. */
  send(packet: string): void {
    this.socket.send(packet);
  }

  /**
   * Sends a namespace CONNECT (`40/nsp,{auth}`) and resolves the answer: `40…{"sid"}`, a
   * `44…{"message","data":{"code"}}` refusal, or the transport closing first.
   */
  async connect(namespace: string, auth?: unknown): Promise<RawConnectAnswer> {
    const prefix = namespace === '/' ? '' : `${namespace},`;
    const from = this.packets.length;
    this.send(`40${prefix}${auth === undefined ? '' : JSON.stringify(auth)}`);
    const answer = await this.until(
      (packet) => packet.startsWith(`40${prefix}`) || packet.startsWith(`44${prefix}`),
      from,
    );
    if (answer === undefined) return { ok: false, closed: true };
    const body = JSON.parse(answer.slice(2 + prefix.length)) as {
      sid?: string;
      data?: { code?: string };
    };
    return answer.startsWith('40')
      ? { ok: true, sid: String(body.sid) }
      : { ok: false, code: body.data?.code };
  }

  /** Leaves a namespace (`41/nsp,`). */
  leave(namespace: string): void {
    this.send(`41${namespace === '/' ? '' : `${namespace},`}`);
  }

  /**
   * Resolves the first packet from index `from` on that matches, or `undefined` once the transport
   * closed without one. Bounded: rejects after `timeout` ms.
   */
  until(match: (packet: string) => boolean, from = 0, timeout = 5000): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no matching packet in time')), timeout);
      const check = () => {
        const found = this.packets.slice(from).find(match);
        if (found !== undefined || this.closed) {
          clearTimeout(timer);
          resolve(found);
          return;
        }
        this.waiters.push(check);
      };
      check();
    });
  }

  /** Resolves once the transport is closed (bounded by `timeout` ms). */
  async whenClosed(timeout = 5000): Promise<void> {
    await this.until(() => false, this.packets.length, timeout);
  }

  close(): void {
    this.socket.terminate();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
