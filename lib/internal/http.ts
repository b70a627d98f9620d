/** Request headers as Node, Express and Fastify hand them over (lowercase names). */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** The first value of a header, or `undefined`. */
export function header(headers: HeaderBag | undefined, name: string): string | undefined {
  const value = headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The query string of a request URL, every value kept: a repeated key becomes an array (which the
 * service refuses as a malformed ticket), so `?uuid=a&uuid=b` cannot pick one of two tickets the
 * way a last-value-wins parser would.
 */
export function queryOf(url: string | undefined): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null);
  let params: URLSearchParams;
  try {
    params = new URL(url ?? '/', 'ws://localhost').searchParams;
  } catch {
    return query;
  }
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    query[key] = values.length === 1 ? values[0] : values;
  }
  return query;
}
