import { RequestMethod } from '@nestjs/common';

/** Where the chat page's files are served: `/assets/<file>`. */
export const WEB_ASSETS_PATH = 'assets';

/**
 * The chat page's routes, which live at the root, outside the global prefix:
 * `app.setGlobalPrefix('api', { exclude: WEB_ROUTES })`. Every other route stays under `/api`.
 */
export const WEB_ROUTES: { path: string; method: RequestMethod }[] = [
  { path: '/', method: RequestMethod.GET },
  { path: `${WEB_ASSETS_PATH}/:file`, method: RequestMethod.GET },
];
