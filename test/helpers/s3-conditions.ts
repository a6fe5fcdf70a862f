/**
 * A conditional-write front for s3rver: an HTTP proxy on a free loopback port that enforces
 * PutObject's `If-None-Match: *` and `If-Match: <ETag>` the way AWS S3 does, against
 * s3rver's real objects and ETags, and passes everything else through untouched.
 *
 * It stands in for the store's own precondition checks because no S3 server that has them
 * (AWS S3, MinIO, R2) installs here from npm or Debian, and s3rver accepts both headers on PUT
 * and ignores them. What it checks is what the S3 backend relies on: a create refused with
 * 412 PreconditionFailed when the key exists, a replace refused with 412 when the ETag moved
 * and 404 NoSuchKey when the key is gone (and, on demand, 409 ConditionalRequestConflict). Writes to one key (PUT, POST, DELETE) pass through
 * it one at a time, so a check and the write it lets through are atomic against every other
 * writer of that key, as on the real store.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { S3rverServer } from '../../src/testing/servers/s3rver.js';

export interface ConditionalFront {
  endpoint: string;
  /** s3rver's environment for a child `lifeboat`, with this front as the endpoint. */
  env: Record<string, string>;
  /** Conditional PUTs seen, and how many of them were refused (412, 404 or 409). */
  readonly stats: { conditional: number; refused: number };
  /**
   * Answers the next this many conditional PUTs with 409 ConditionalRequestConflict without
   * writing, as AWS does when another conditional write to the key is in flight (which this
   * front, taking writes to a key one at a time, never meets by itself).
   */
  conflicts: number;
  close(): Promise<void>;
}

const target = (server: S3rverServer) => ({ host: '127.0.0.1', port: server.port });

export async function startConditionalFront(server: S3rverServer): Promise<ConditionalFront> {
  const stats = { conditional: 0, refused: 0 };
  const front = { conflicts: 0 };
  /** The tail of each key's queue of writes. */
  const queues = new Map<string, Promise<void>>();
  const sockets = new Set<Socket>();

  /** The object's ETag as s3rver has it (an unsigned HEAD: s3rver lets those through). */
  const etagOf = (path: string) =>
    new Promise<string | undefined>((resolve, reject) => {
      const head = request({ ...target(server), method: 'HEAD', path }, (r) => {
        r.resume();
        resolve(r.statusCode === 200 ? String(r.headers.etag) : undefined);
      });
      head.on('error', reject);
      head.end();
    });

  const forward = (req: IncomingMessage, res: ServerResponse) =>
    new Promise<void>((resolve) => {
      const upstream = request(
        { ...target(server), method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
          r.on('end', resolve);
          r.on('error', resolve);
        },
      );
      upstream.on('error', () => {
        res.destroy();
        resolve();
      });
      // A client that gives up mid-request (its deadline) would otherwise leave s3rver waiting
      // for the rest of the body, and this key's queue behind it for good.
      res.on('close', () => {
        upstream.destroy();
        resolve();
      });
      req.pipe(upstream);
    });

  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, code: string, why: string) =>
    new Promise<void>((resolve) => {
      stats.refused++;
      res.on('close', () => resolve());
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${why}</Message></Error>`;
        res
          .writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) })
          .end(body, resolve);
      });
    });

  /** Checks a conditional PutObject against the stored object, then lets it through or refuses. */
  const conditional = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    stats.conditional++;
    if (front.conflicts > 0) {
      front.conflicts--;
      return refuse(req, res, 409, 'ConditionalRequestConflict', 'A conflicting operation occurred.');
    }
    const current = await etagOf(path);
    const bare = (tag: string) => tag.replace(/^"|"$/g, '');
    const ifNoneMatch = req.headers['if-none-match'];
    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && current === undefined) {
      return refuse(req, res, 404, 'NoSuchKey', 'The specified key does not exist.');
    }
    const exists = ifNoneMatch === '*' && current !== undefined;
    const moved = ifMatch !== undefined && current !== undefined && bare(ifMatch) !== bare(current);
    if (exists || moved) {
      return refuse(
        req,
        res,
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
      );
    }
    return forward(req, res);
  };

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    const path = url.pathname;
    const isObject = path.split('/').filter(Boolean).length >= 2;
    if (!isObject || req.method === 'GET' || req.method === 'HEAD') {
      void forward(req, res);
      return;
    }
    const isConditional =
      req.method === 'PUT' &&
      !url.searchParams.has('uploadId') &&
      (req.headers['if-none-match'] !== undefined || req.headers['if-match'] !== undefined);
    const run = () => (isConditional ? conditional(req, res, path) : forward(req, res));
    const previous = queues.get(path) ?? Promise.resolve();
    const mine = previous.then(run, run).catch(() => {
      res.destroy();
    });
    queues.set(path, mine);
    void mine.then(() => {
      if (queues.get(path) === mine) queues.delete(path);
    });
  });
  http.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const endpoint = `http://127.0.0.1:${port}`;
  return Object.assign(front, {
    endpoint,
    env: { ...server.env, AWS_ENDPOINT_URL_S3: endpoint },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        http.close(() => resolve());
      }),
  });
}
