import { Module } from '@nestjs/common';
import { WebController } from './web.controller.js';

/** Serves the sample's browser chat page at `/` (see `WEB_ROUTES` for the prefix exclusion). */
@Module({ controllers: [WebController] })
export class WebModule {}
