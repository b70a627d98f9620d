import { Logger } from '@nestjs/common';
import { WsTicketWsAdapter } from '../lib/ws/index.js';
import { createSampleApp } from './bootstrap.js';
import { loadConfig } from './config.js';
import { WsChatGateway } from './ws/ws-chat.gateway.js';

// `npm run sample:ws`: the same HTTP API as `npm run sample`, with a raw WebSocket chat at /ws/chat
// (outside the `api` prefix, which only applies to HTTP routes).
const config = loadConfig();
const app = await createSampleApp(config, {
  gateways: [WsChatGateway],
  adapter: (nest) => new WsTicketWsAdapter(nest),
});
await app.listen(config.port, config.host);
const url = await app.getUrl();
new Logger('Sample').log(
  `Listening on ${url} (raw WebSocket: ${url.replace(/^http/, 'ws')}/ws/chat)`,
);
