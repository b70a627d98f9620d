// The part of autocannon's programmatic API the bench uses (the package ships no types).
declare module 'autocannon' {
  interface AutocannonOptions {
    url: string;
    method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
    headers?: Record<string, string>;
    body?: string;
    /** Concurrent connections. */
    connections?: number;
    pipelining?: number;
    /** Seconds. */
    duration?: number;
    /** Total requests; overrides `duration`. */
    amount?: number;
    /** Seconds. */
    timeout?: number;
    /** The request sequence; `setupRequest` may rewrite each request before it is sent. */
    requests?: Array<{ setupRequest?: (request: AutocannonRequest) => AutocannonRequest }>;
  }

  interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }

  interface Histogram {
    average: number;
    mean: number;
    min: number;
    max: number;
    p50: number;
    p99: number;
    /** Sum of the samples: completed requests for `requests`. */
    total: number;
  }

  interface AutocannonResult {
    requests: Histogram;
    /** Milliseconds. */
    latency: Histogram;
    /** Seconds. */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
  }

  function autocannon(options: AutocannonOptions): Promise<AutocannonResult>;
  export default autocannon;
}
