import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a hostile endpoint received. */
export interface HostileRequest {
  method: string;
  path: string;
  /** Every `Authorization` header value, as sent. */
  authorization: string[];
  /** True once the client closed the connection before the answer was complete. */
  abandoned: boolean;
  /** Resolves when the connection of this request is gone (answered or abandoned). */
  closed: Promise<void>;
}

/** Answers one request; may answer late, lazily, or never. */
export type HostileHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  request: HostileRequest,
) => void;

/** A local `node:http` server on port 0 that answers as a test tells it to. */
export interface HostileServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every request received so far, in order. */
  readonly requests: HostileRequest[];
  /** Resolves the `n`-th request (1-based) once it arrived; fails after `timeout` ms. */
  request(n: number, timeout?: number): Promise<HostileRequest>;
  close(): Promise<void>;
}

/** Starts a hostile endpoint: every request is recorded, then handed to `handler`. */
export async function hostileServer(handler: HostileHandler): Promise<HostileServer> {
  const requests: HostileRequest[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    let markClosed!: () => void;
    const request: HostileRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headersDistinct.authorization ?? [],
      abandoned: false,
      closed: new Promise((resolve) => {
        markClosed = resolve;
      }),
    };
    res.on('close', () => {
      request.abandoned = !res.writableFinished;
      markClosed();
    });
    requests.push(request);
    for (const wake of waiters.splice(0)) wake();
    handler(req, res, request);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    request(n, timeout = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`request #${n} did not arrive (${requests.length} did)`)),
          timeout,
        );
        const check = () => {
          if (requests.length >= n) {
            clearTimeout(timer);
            resolve(requests[n - 1]);
          } else waiters.push(check);
        };
        check();
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers `status` with a JSON (or raw string) body and extra headers. */
export function answer(
  status: number,
  body: unknown = '',
  headers: OutgoingHttpHeaders = {},
): HostileHandler {
  return (_req, res) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };
}

/** Never answers (the connection stays open until the client gives up). */
export const never: HostileHandler = () => {};

/**
 * A 201 whose body is `size` bytes of a JSON string, written lazily (one reused 64 KiB chunk, as
 * fast as the client reads), so that a test never holds the body in memory. `declare` sends the
 * size as Content-Length; otherwise the body is chunked. `written` counts what the socket took.
 */
export function hugeBody(size: number, declare: boolean): HostileHandler & { written(): number } {
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    const head = Buffer.from('{"uuid":"');
    res.writeHead(201, {
      'content-type': 'application/json',
      ...(declare ? { 'content-length': size } : {}),
    });
    res.write(head);
    written += head.length;
    const pump = () => {
      while (!res.destroyed && written < size) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  };
  return Object.assign(handler, { written: () => written });
}

/** A valid-looking ticket answer. */
export function ticketBody(uuid: string = crypto.randomUUID(), expiresIn = 30) {
  return { uuid, expiresIn };
}
