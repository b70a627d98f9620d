import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Header, NotFoundException, Param, StreamableFile } from '@nestjs/common';
import { WEB_ASSETS_PATH } from './web.routes.js';

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/**
 * Same-origin everything, no inline script or style: message text can never run as code, even if a
 * rendering bug slipped through. `connect-src 'self'` covers the ticket request and the WebSocket.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const publicDir = findPublicDir();

/**
 * The modules of the library's compiled `nestjs-ws-ticket/client` (dependency-free ESM, relative
 * imports only): the page imports `ws-ticket.client.js`, which imports the others from the same
 * folder, so each one is served next to it. A test checks that every import is served.
 */
const CLIENT_MODULES = [
  'ws-ticket.client.js',
  'backoff.js',
  'client.constants.js',
  'io-session-refresh.js',
  'session-refresh.js',
  'ticket-auth.js',
  'ticket-failure.js',
  'ticket-refresh.js',
  'ticket-request.js',
  'ticket-response.js',
];

/**
 * The files the page may load, by name: nothing else on disk is reachable. In an app of your own,
 * serve the folder of `import.meta.resolve('nestjs-ws-ticket/client')` the same way. The Socket.IO
 * client itself is served by the Socket.IO server at `/socket.io/socket.io.esm.min.js`.
 */
const ASSETS = new Map<string, { path: string; type: string }>([
  ['chat.css', { path: join(publicDir, 'chat.css'), type: CSS }],
  ['chat.js', { path: join(publicDir, 'chat.js'), type: JS }],
  ...CLIENT_MODULES.map(
    (file) =>
      [
        file,
        { path: fileURLToPath(new URL(`../../lib/client/${file}`, import.meta.url)), type: JS },
      ] as const,
  ),
]);

/** The chat page at `/` and its files under `/assets/`, outside the `api` prefix (`WEB_ROUTES`). */
@Controller()
export class WebController {
  @Get()
  @Header('Cache-Control', 'no-cache')
  @Header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  @Header('X-Content-Type-Options', 'nosniff')
  index(): Promise<StreamableFile> {
    return serve(join(publicDir, 'index.html'), HTML);
  }

  @Get(`${WEB_ASSETS_PATH}/:file`)
  @Header('Cache-Control', 'no-cache')
  @Header('X-Content-Type-Options', 'nosniff')
  asset(@Param('file') file: string): Promise<StreamableFile> {
    const asset = ASSETS.get(file);
    if (!asset) throw new NotFoundException();
    return serve(asset.path, asset.type);
  }
}

async function serve(path: string, type: string): Promise<StreamableFile> {
  // Read on every request, so that editing the page only needs a reload.
  const content = await readFile(path).catch(() => {
    throw new NotFoundException('Not built: run `npm run sample`.');
  });
  return new StreamableFile(content, { type });
}

/**
 * The page's sources: the nearest `sample/public` above the compiled file, which finds both a copy
 * next to the build output (`dist/sample/public`) and the source tree (`sample/public`), whatever
 * the output directory.
 */
function findPublicDir(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'sample', 'public');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    if (dirname(dir) === dir) return join(start, '..', 'public');
  }
}
