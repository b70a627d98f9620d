import { RequestMethod } from '@nestjs/common';

/** Where Prometheus scrapes the sample: `GET /metrics`. */
export const METRICS_PATH = 'metrics';

/**
 * The scrape route, at the root like the chat page, outside the `api` prefix (where scrapers look
 * by default): `app.setGlobalPrefix('api', { exclude: [...WEB_ROUTES, ...METRICS_ROUTES] })`.
 */
export const METRICS_ROUTES: { path: string; method: RequestMethod }[] = [
  { path: METRICS_PATH, method: RequestMethod.GET },
];
