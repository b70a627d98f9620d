import { Controller, Get, Header, StreamableFile } from '@nestjs/common';
import { METRICS_PATH } from './metrics.routes.js';
import { SampleMetrics } from './sample-metrics.js';

/**
 * `GET /metrics`, the Prometheus text format. Unauthenticated here: a real app protects it or
 * serves it on an internal port only.
 */
@Controller()
export class MetricsController {
  constructor(private readonly metrics: SampleMetrics) {}

  @Get(METRICS_PATH)
  @Header('Cache-Control', 'no-store')
  async scrape(): Promise<StreamableFile> {
    const { registry } = this.metrics;
    // A StreamableFile carries its Content-Type on Express and Fastify alike.
    return new StreamableFile(Buffer.from(await registry.metrics()), {
      type: registry.contentType,
    });
  }
}
