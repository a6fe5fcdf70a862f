/**
 * @module server/routes/snapshots-routes
 * Snapshots in the repository: a page of them, one manifest, one folder of a tree, and one
 * file's bytes (streamed; a protected source's files go to admins only).
 */
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { describe } from '../../errors.js';
import { mayDownload } from '../../jobs/queue/restore-approval.js';
import { pickSnapshot, publicProblems } from '../../jobs/snapshot-select.js';
import { belongsTo, sourceOfUnit } from '../../sources/source-units.js';
import { type ApiContext, sourceConfig } from '../api-context.js';
import { ApiError } from '../api-error.js';
import {
  errorResponse,
  fileQuery,
  snapshotParams,
  snapshotResponse,
  snapshotsPage,
  snapshotsQuery,
  treeQuery,
  treeResponse,
} from '../api-schemas.js';
import { publicSnapshot } from '../snapshot-cache.js';
import { callerOf, defineRoute } from './route.js';

export const snapshotsRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/snapshots',
    role: 'viewer',
    summary: 'Snapshots in the repository, newest first, a page at a time',
    query: snapshotsQuery,
    responses: {
      200: { description: 'a page of snapshots; `total` counts every match', schema: snapshotsPage },
    },
    handler: async (ctx, { query: q, reply }) => {
      // A page is rendered once per version of the list: the list changes only after jobs.
      const body = ctx.snapshots.memo(`page:${JSON.stringify(q)}`, () => {
        const before = q.before ? Date.parse(q.before) : undefined;
        const after = q.after ? Date.parse(q.after) : undefined;
        const offset = q.offset ?? 0;
        const limit = q.limit ?? 100;
        let total = 0;
        const page: string[] = [];
        for (const c of ctx.snapshots.list()) {
          if (q.source && !belongsTo(c.snapshot.source, q.source)) continue;
          if (q.tag && !c.snapshot.tags.includes(q.tag)) continue;
          if (before !== undefined && c.time >= before) continue;
          if (after !== undefined && c.time <= after) continue;
          if (total >= offset && page.length < limit) page.push(c.json);
          total++;
        }
        // Snapshot files that do not read are listed apart: the others are served as usual.
        const problems = JSON.stringify(publicProblems(ctx.snapshots.problems()));
        return Buffer.from(
          `{"total":${total},"offset":${offset},"limit":${limit},"snapshots":[${page.join(',')}],"problems":${problems}}`,
        );
      });
      reply.header('content-type', 'application/json; charset=utf-8');
      return body;
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/snapshots/{id}',
    role: 'viewer',
    summary:
      'One snapshot’s manifest: stats (files, rows per table, keys per database), engine facts, settings',
    params: snapshotParams,
    responses: {
      200: { description: 'the snapshot', schema: z.object({ snapshot: snapshotResponse }) },
      404: { description: 'no such snapshot', schema: errorResponse },
    },
    handler: async (ctx, { params }) => {
      const entry = resolveSnapshot(ctx, params.id);
      return { snapshot: publicSnapshot(entry.id, await ctx.browser.manifest(entry.id)) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/snapshots/{id}/tree',
    role: 'viewer',
    summary: 'One folder of a snapshot’s tree (files: the file tree; databases: their artifacts)',
    params: snapshotParams,
    query: treeQuery,
    responses: {
      200: { description: 'the folder’s entries', schema: treeResponse },
      404: { description: 'no such snapshot or folder', schema: errorResponse },
    },
    handler: async (ctx, { params, query: q }) =>
      ctx.browser.list(resolveSnapshot(ctx, params.id).id, q.path ?? '', {
        offset: q.offset ?? 0,
        limit: q.limit ?? 1000,
      }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/snapshots/{id}/file',
    role: 'operator',
    summary:
      'Download one file of a snapshot, streamed: every chunk is authenticated, and the size (and SHA-256 where recorded) is checked at the end; a mismatch cuts the download off. A protected source’s files need an admin token',
    params: snapshotParams,
    query: fileQuery,
    download: true,
    responses: {
      200: { description: 'the file’s bytes (application/octet-stream)' },
      400: { description: 'the path is a folder', schema: errorResponse },
      404: { description: 'no such snapshot or file', schema: errorResponse },
    },
    handler: async (ctx, { params, query: q, req, reply }) => {
      const entry = resolveSnapshot(ctx, params.id);
      const who = callerOf(req);
      const top = sourceOfUnit(entry.snapshot.source);
      const isProtected = !!sourceConfig(ctx, top)?.protected;
      if (isProtected) {
        const allowed = mayDownload(who.role, isProtected);
        await ctx.catalog.audit.append({
          actor: who.name,
          action: allowed ? 'snapshot.download' : 'snapshot.download_denied',
          target: entry.id,
          details: { source: entry.snapshot.source, path: q.path },
        });
        if (!allowed) {
          throw new ApiError(
            403,
            'forbidden',
            `[api] snapshot ${entry.id.slice(0, 8)} is of protected source ${top}: downloading its files needs an admin token (or request a restore, which a second admin approves)`,
          );
        }
      }
      const file = await ctx.browser.openFile(entry.id, q.path);
      const name = basename(q.path);
      reply.header('content-type', 'application/octet-stream');
      reply.header('content-length', String(file.size));
      reply.header(
        'content-disposition',
        `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${rfc5987(name)}`,
      );
      reply.header('cache-control', 'no-store');
      reply.header('x-content-type-options', 'nosniff');
      const stream = Readable.from(file.content);
      stream.once('error', (err) =>
        ctx.log.error({ err: describe(err), snapshot: entry.id.slice(0, 8) }, 'download cut off'),
      );
      return reply.send(stream);
    },
  }),
];

/** A snapshot by id or unique prefix (never "latest": the dashboard names what it shows). */
function resolveSnapshot(ctx: ApiContext, ref: string) {
  return pickSnapshot(
    ctx.snapshots.entries(),
    ref,
    undefined,
    ctx.repositoryLocation,
    ctx.snapshots.problems(),
  );
}

/** A value for `filename*=UTF-8''…`: percent-encoded, including the characters RFC 5987 reserves. */
function rfc5987(value: string): string {
  return encodeURIComponent(value).replace(
    /['()*!]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
