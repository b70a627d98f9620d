import { Logger } from '@nestjs/common';
import { createSampleApp } from './bootstrap.js';
import { loadConfig } from './config.js';

const config = loadConfig();
const app = await createSampleApp(config);
await app.listen(config.port, config.host);
new Logger('Sample').log(`Listening on ${await app.getUrl()}`);
