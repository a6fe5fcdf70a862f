/**
 * @module testing/servers/fault-proxy
 * An HTTP reverse proxy on a free loopback port in front of a test server (s3rver, azurite)
 * that injects the failures of a bad network or an overloaded store, from a seeded random
 * sequence: 500/503 answers (some with Retry-After), connections reset mid-request, and
 * requests that stall. Mode 'down' answers 503 to everything (an outage); 'pass' forwards
 * everything. It counts requests, so it also measures requests per GiB for benchmarks.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface FaultRates {
  /** Share of requests answered 500 or 503 without reaching the server. */
  error?: number;
  /** Share of requests whose connection is reset. */
  reset?: number;
  /** Share of requests that stall for stallMs (then the connection is dropped). */
  stall?: number;
  stallMs?: number;
}

export type ProxyMode = 'pass' | 'faulty' | 'down';

export interface FaultProxy {
  endpoint: string;
  port: number;
  mode: ProxyMode;
  rates: FaultRates;
  readonly stats: {
    requests: number;
    forwarded: number;
    errors: number;
    resets: number;
    stalls: number;
    down: number;
    /** Request bodies forwarded with a 2xx answer, by HTTP method. */
    bytesUp: number;
    bytesDown: number;
    byMethod: Record<string, number>;
  };
  resetStats(): void;
  close(): Promise<void>;
}

/** A small deterministic generator (mulberry32) from a text seed. */
function seeded(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ERROR_BODY = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the test proxy</Message></Error>`;

export async function startFaultProxy(
  target: { host: string; port: number },
  options: {
    mode?: ProxyMode;
    rates?: FaultRates;
    seed?: string;
    /** Sees every request as it arrives (method, URL, headers), e.g. to check what a client sends. */
    observe?: (req: IncomingMessage) => void;
  } = {},
): Promise<FaultProxy> {
  const random = seeded(options.seed ?? 'lifeboat');
  const sockets = new Set<Socket>();
  const zero = () => ({
    requests: 0,
    forwarded: 0,
    errors: 0,
    resets: 0,
    stalls: 0,
    down: 0,
    bytesUp: 0,
    bytesDown: 0,
    byMethod: {} as Record<string, number>,
  });
  const proxy: FaultProxy = {
    endpoint: '',
    port: 0,
    mode: options.mode ?? 'faulty',
    rates: options.rates ?? { error: 0.1, reset: 0.02, stall: 0.01, stallMs: 30_000 },
    stats: zero(),
    resetStats() {
      Object.assign(proxy.stats, zero());
    },
    close: async () => {},
  };

  const answer = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    code: string,
    retryAfter?: number,
  ) => {
    req.resume();
    req.on('end', () => {
      const body = ERROR_BODY(code);
      const headers: Record<string, string | number> = {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
      };
      if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
      res.writeHead(status, headers).end(body);
    });
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    proxy.stats.forwarded++;
    let up = 0;
    const upstream = request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        let down = 0;
        r.on('data', (d: Buffer) => {
          down += d.length;
        });
        r.on('end', () => {
          if ((r.statusCode ?? 500) < 300) {
            proxy.stats.bytesUp += up;
            proxy.stats.bytesDown += down;
          }
        });
        r.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.on('data', (d: Buffer) => {
      up += d.length;
    });
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    proxy.stats.requests++;
    options.observe?.(req);
    const method = req.method ?? 'GET';
    proxy.stats.byMethod[method] = (proxy.stats.byMethod[method] ?? 0) + 1;
    if (proxy.mode === 'down') {
      proxy.stats.down++;
      answer(req, res, 503, 'ServiceUnavailable');
      return;
    }
    if (proxy.mode === 'faulty') {
      const r = proxy.rates;
      const x = random();
      const error = r.error ?? 0;
      const reset = r.reset ?? 0;
      const stall = r.stall ?? 0;
      if (x < error) {
        proxy.stats.errors++;
        const busy = random() < 0.5;
        answer(req, res, busy ? 503 : 500, busy ? 'SlowDown' : 'InternalError', busy ? 0 : undefined);
        return;
      }
      if (x < error + reset) {
        proxy.stats.resets++;
        req.socket.destroy();
        return;
      }
      if (x < error + reset + stall) {
        proxy.stats.stalls++;
        const timer = setTimeout(() => req.socket.destroy(), r.stallMs ?? 30_000);
        req.socket.once('close', () => clearTimeout(timer));
        req.resume();
        return;
      }
    }
    forward(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  proxy.port = typeof address === 'object' && address ? address.port : 0;
  proxy.endpoint = `http://127.0.0.1:${proxy.port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
