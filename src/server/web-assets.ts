/**
 * @module server/web-assets
 * Serves the dashboard that `npm run build` puts in dist/web (see scripts/build-web.js):
 * `/` and the hashed files under `/assets/`, brotli or gzip copies made at build time when
 * the client accepts them, with a strict Content-Security-Policy (no inline scripts, nothing
 * from other origins). These routes need no token; every /api call still does.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault } from 'fastify';
import type { Logger } from 'pino';
import { PACKAGE_ROOT } from '../package-root.js';

/** Where the build puts the dashboard. */
export const DEFAULT_WEB_DIR = join(PACKAGE_ROOT, 'dist', 'web');

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

interface ManifestFile {
  path: string;
  raw: number;
  gzip: number;
  br: number;
  etag: string;
}

interface Asset {
  type: string;
  etag: string;
  /** Hashed names never change content: cached for a year; the page itself is revalidated. */
  cacheControl: string;
  identity: Buffer;
  gzip: Buffer;
  br: Buffer;
}

/** The built files, read once at start (they are small: the first view is well under 100 KiB compressed). */
export function loadWebAssets(dir = DEFAULT_WEB_DIR): Map<string, Asset> | undefined {
  let manifest: { files: Record<string, ManifestFile> };
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const assets = new Map<string, Asset>();
  for (const [url, f] of Object.entries(manifest.files)) {
    assets.set(url, {
      type: TYPES[extname(f.path)] ?? 'application/octet-stream',
      etag: f.etag,
      cacheControl: url === '/' ? 'no-cache' : 'public, max-age=31536000, immutable',
      identity: readFileSync(join(dir, f.path)),
      gzip: readFileSync(join(dir, `${f.path}.gz`)),
      br: readFileSync(join(dir, `${f.path}.br`)),
    });
  }
  return assets;
}

/** Which stored encoding to send for an Accept-Encoding header. */
export function pickEncoding(accept: string | undefined): 'br' | 'gzip' | 'identity' {
  const offered = new Map<string, number>();
  for (const part of (accept ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    offered.set(name, q === undefined ? 1 : Number(q));
  }
  const ok = (name: string) => (offered.get(name) ?? offered.get('*') ?? 0) > 0;
  if (ok('br')) return 'br';
  if (ok('gzip')) return 'gzip';
  return 'identity';
}

function securityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', DASHBOARD_CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
  reply.header('cross-origin-opener-policy', 'same-origin');
}

/** Registers `/` and `/assets/*` (public routes: `config.public`). */
export function registerDashboard(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>,
  assets: Map<string, Asset> | undefined,
): void {
  const send = async (req: FastifyRequest, reply: FastifyReply, url: string) => {
    securityHeaders(reply);
    if (!assets) {
      reply.status(503).header('content-type', 'text/plain; charset=utf-8');
      return 'lifeboat: the dashboard is not built (run `npm run build`, which writes dist/web)\n';
    }
    const asset = assets.get(url);
    if (!asset) {
      reply.status(404).header('content-type', 'text/plain; charset=utf-8');
      return 'not found\n';
    }
    reply.header('content-type', asset.type);
    reply.header('cache-control', asset.cacheControl);
    reply.header('etag', asset.etag);
    reply.header('vary', 'accept-encoding');
    if (req.headers['if-none-match'] === asset.etag) {
      reply.status(304);
      return '';
    }
    const encoding = pickEncoding(req.headers['accept-encoding']);
    if (encoding !== 'identity') reply.header('content-encoding', encoding);
    return encoding === 'br' ? asset.br : encoding === 'gzip' ? asset.gzip : asset.identity;
  };
  app.get('/', { config: { public: true } }, (req, reply) => send(req, reply, '/'));
  app.get<{ Params: { name: string } }>('/assets/:name', { config: { public: true } }, (req, reply) =>
    send(req, reply, `/assets/${req.params.name}`),
  );
}
