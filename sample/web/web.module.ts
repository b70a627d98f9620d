import { Module } from '@nestjs/common';

/** Serves the sample's browser chat page (filled in by the browser-page work). */
@Module({})
export class WebModule {}
