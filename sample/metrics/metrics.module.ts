import { Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller.js';
import { SampleMetrics } from './sample-metrics.js';

/** `GET /metrics` for Prometheus (see `METRICS_ROUTES` for the prefix exclusion). */
@Module({ controllers: [MetricsController], providers: [SampleMetrics] })
export class MetricsModule {}
