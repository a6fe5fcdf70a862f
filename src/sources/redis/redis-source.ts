/**
 * @module sources/redis/redis-source
 * The Redis engine. Backup: a point-in-time RDB snapshot taken over the replication protocol
 * (as `redis-cli --rdb` does), streamed into the repository as one artifact, `dump.rdb`,
 * while a streaming parser counts the keys per database and checks the file's checksum.
 * Restore: every key with its TTL into a running server through pipelined RESTORE commands
 * (all databases or one, all keys or a glob pattern). `lifeboat dump` hands back the RDB file,
 * which a server can start from.
 */

import { join } from 'node:path';
import { type Clock, systemClock } from '../../clock.js';
import { describe, isLifeboatError, LifeboatError } from '../../errors.js';
import { loadArtifacts, saveArtifacts } from '../artifact.js';
import type {
  BackupContext,
  BackupResult,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  TargetContents,
  TreeNode,
} from '../source.js';
import { RangeReadableArtifact } from './artifact-ranges.js';
import { tee } from './chunk-queue.js';
import { parseRdb, RdbFormatError, type RdbSummary } from './rdb-parser.js';
import { parseRedisUrl, RedisConnection, type RedisEndpoint } from './redis-connection.js';
import {
  appendOnlyNote,
  assertStopped,
  isOfflineTarget,
  resolveOfflineTarget,
  writeOfflineRdb,
} from './redis-offline.js';
import { loadAsReplica, ReplicaLoadUnavailable } from './redis-replica-load.js';
import { openRdbTransfer } from './redis-replication.js';
import { restoreRdb, targetKeyspace } from './redis-restore.js';
import type { RedisSourceConfig } from './redis-schema.js';

export const ARTIFACT = 'dump.rdb';

export function createRedisSource(
  name: string,
  config: RedisSourceConfig,
  clock: Clock = systemClock,
): Source {
  return new RedisSource(name, config, clock);
}

class RedisSource implements Source {
  readonly type = 'redis';
  readonly kind = 'logical';

  constructor(
    readonly name: string,
    private readonly config: RedisSourceConfig,
    private readonly clock: Clock,
  ) {}

  async backup(ctx: BackupContext): Promise<BackupResult> {
    const ep = parseRedisUrl(this.config.url, this.config.tls);
    const transfer = await openRdbTransfer(ep, ctx.signal);
    try {
      let bytes = 0;
      const counted = countBytes(transfer.stream, (n) => {
        bytes += n;
        ctx.progress.advance(n);
      });
      const { output, result, cancel } = tee(counted, (stream) => parseRdb(stream));
      let summary: RdbSummary;
      try {
        const root = await saveArtifacts(ctx.store, [{ name: ARTIFACT, stream: output }]);
        summary = await result;
        return {
          root,
          stats: {
            keys: summary.keys,
            keysTotal: Object.values(summary.keys).reduce((a, b) => a + b, 0),
            expires: summary.expires,
            functions: summary.functions,
            moduleKeys: summary.moduleKeys,
            bytes,
          },
          meta: {
            artifact: ARTIFACT,
            server: ep.display,
            redisVersion: transfer.serverVersion ?? summary.aux['redis-ver'],
            rdbVersion: summary.version,
            checksum: summary.checksum,
            transfer: transfer.form,
          },
        };
      } catch (err) {
        // The parser's verdict explains a failed store better than the broken pipe it caused;
        // a parser still waiting for data (the store gave up first) stops with the store's error.
        cancel(err);
        const parseErr = await result.then(
          () => undefined,
          (e: unknown) => e,
        );
        throw backupError(ep, parseErr ?? err);
      }
    } finally {
      await transfer.close();
    }
  }

  /**
   * The whole RDB file loaded by the (empty) target as a replica of lifeboat. Keys whose TTL
   * has passed load too (a replica keeps them; the server drops them once it is a master
   * again): when the snapshot has keys with a TTL, a parse beside the transfer counts them.
   */
  private async restoreAsReplica(
    ctx: RestoreContext,
    artifact: RangeReadableArtifact,
    size: number,
    conn: RedisConnection,
    ep: RedisEndpoint,
  ): Promise<RestoreResult> {
    const now = this.clock.now().getTime();
    const expiredPerDb: Record<string, number> = {};
    const countExpired = (stream: AsyncIterable<Buffer>) =>
      parseRdb(stream, {
        expiry: (db, expireMs) => {
          if (expireMs <= now) expiredPerDb[db] = (expiredPerDb[db] ?? 0) + 1;
        },
      });
    const withTtl = Number(ctx.stats.expires ?? 1) > 0;
    const { output, result } = withTtl
      ? tee(artifact.stream(), countExpired)
      : { output: artifact.stream(), result: undefined };
    const loaded = await loadAsReplica(output, size, conn, ep);
    await result;
    const keys: Record<string, number> = {};
    let total = 0;
    let expired = 0;
    for (const [d, n] of Object.entries(loaded.keys)) {
      total += n;
      expired += expiredPerDb[d] ?? 0;
      if (n > (expiredPerDb[d] ?? 0)) keys[d] = n - (expiredPerDb[d] ?? 0);
    }
    const snapshotTotal = Object.values((ctx.stats.keys ?? {}) as Record<string, number>).reduce(
      (a, b) => a + b,
      0,
    );
    if (total !== snapshotTotal) {
      throw new LifeboatError(
        'integrity',
        `[source:redis] ${ep.display} loaded ${total} keys, the snapshot recorded ${snapshotTotal} (check the server's log; run lifeboat check --read-data)`,
      );
    }
    const functions = Number(ctx.stats.functions ?? 0);
    const items = Object.entries(keys).map(([d, n]) => `db${d}: ${n} key${n === 1 ? '' : 's'}`);
    if (expired > 0)
      items.push(`skipped ${expired} expired key${expired === 1 ? '' : 's'} (the server drops them)`);
    if (functions > 0) items.push(`function libraries: ${functions}`);
    items.push('loaded as a replica (full resynchronisation)');
    return {
      target: ep.display,
      items,
      stats: { keys, keysTotal: total - expired, written: total - expired, expired, functions, bytes: size },
    };
  }

  /** The RDB file written where a stopped server loads it at startup. */
  private async restoreOffline(
    ctx: RestoreContext,
    node: TreeNode,
    to: string,
    options: RestoreOptions,
  ): Promise<RestoreResult> {
    if (options.db !== undefined || options.pattern !== undefined) {
      throw new LifeboatError(
        'usage',
        '[source:redis] an offline restore writes the whole RDB file: --db and --pattern need a running server (--to redis://host:port)',
      );
    }
    const target = await resolveOfflineTarget(to);
    await assertStopped(target);
    const file = join(target.dir, target.dbfilename);
    const keys = (ctx.stats.keys ?? {}) as Record<string, number>;
    const keysTotal = Object.values(keys).reduce((a, b) => a + b, 0);
    const items = Object.entries(keys).map(([d, n]) => `db${d}: ${n} key${n === 1 ? '' : 's'}`);
    const note = appendOnlyNote(target);
    const warnings = note ? [note] : [];
    if (!options.dryRun) {
      ctx.progress.start(`restore ${this.name}`, node.size);
      const artifact = new RangeReadableArtifact(ctx.store, node, (n) => ctx.progress.advance(n));
      await writeOfflineRdb(target, artifact.stream(), options.overwrite);
      ctx.progress.done();
    }
    items.push(`${options.dryRun ? 'would write' : 'wrote'} ${file}: the server loads it when it starts`);
    return {
      target: file,
      items: [...items, ...warnings],
      stats: {
        keys,
        keysTotal,
        functions: Number(ctx.stats.functions ?? 0),
        bytes: node.size ?? 0,
        warnings,
      },
    };
  }

  /** The keys the target server holds now, per database. */
  async inspectTarget(to: string | undefined): Promise<TargetContents> {
    const ep = parseRedisUrl(to ?? this.config.url, this.config.tls);
    const conn = await RedisConnection.open(ep);
    try {
      const keys = await targetKeyspace(conn);
      const total = Object.values(keys).reduce((a, b) => a + b, 0);
      const items = Object.entries(keys).map(([db, n]) => `db ${db}: ${n} keys`);
      return { target: ep.display, exists: true, summary: total === 0 ? 'no keys' : `${total} keys`, items };
    } finally {
      await conn.close().catch(() => {});
    }
  }

  async restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    const node = await pickArtifact(ctx);
    const url = options.to ?? this.config.url;
    if (isOfflineTarget(url)) return this.restoreOffline(ctx, node, url, options);
    if (!/^rediss?:\/\//.test(url)) {
      throw new LifeboatError(
        'usage',
        '[source:redis] --to must be a Redis URL (redis://[user:password@]host:port or rediss://...), or for a stopped server its redis.conf, data folder or .rdb path',
      );
    }
    const ep = parseRedisUrl(url, this.config.tls);
    const snapshotKeys = (ctx.stats.keys ?? {}) as Record<string, number>;
    const db = options.db;
    if (db !== undefined && !Object.hasOwn(snapshotKeys, String(db))) {
      throw new LifeboatError(
        'not_found',
        `[source:redis] db ${db} holds no keys in the snapshot (databases with keys: ${Object.keys(snapshotKeys).join(', ') || 'none'})`,
      );
    }
    if ((options.tables ?? []).length > 0 || (options.collections ?? []).length > 0) {
      throw new LifeboatError(
        'usage',
        '[source:redis] use --db N and --pattern GLOB to restore part of a Redis snapshot',
      );
    }
    const dbs = Object.keys(snapshotKeys).filter((d) => db === undefined || d === String(db));

    const conn = await RedisConnection.open(ep);
    try {
      const present = await targetKeyspace(conn);
      const busy = dbs.filter((d) => (present[d] ?? 0) > 0);
      if (busy.length > 0 && !options.overwrite) {
        throw new LifeboatError(
          'target_not_empty',
          `[source:redis] ${ep.display} already holds keys in db ${busy.join(', ')} (pass --overwrite to replace keys of the same name, or restore into an empty server with --to)`,
        );
      }
      ctx.progress.start(`restore ${this.name}`, node.size);
      const artifact = new RangeReadableArtifact(ctx.store, node, (n) => ctx.progress.advance(n));
      let keyByKey = '';
      if (db === undefined && options.pattern === undefined && !options.dryRun && !ep.tls) {
        const empty = Object.values(present).every((n) => n === 0) && (await functionCount(conn)) === 0;
        if (empty) {
          try {
            const result = await this.restoreAsReplica(ctx, artifact, node.size ?? 0, conn, ep);
            ctx.progress.done();
            return result;
          } catch (err) {
            if (!(err instanceof ReplicaLoadUnavailable)) throw err;
            keyByKey = `key by key with RESTORE: ${err.message}`;
          }
        }
      }
      const report = await restoreRdb(artifact, conn, ep, {
        db,
        pattern: options.pattern,
        replace: options.overwrite,
        functions: db === undefined && options.pattern === undefined,
        dryRun: options.dryRun,
        now: this.clock.now().getTime(),
      });
      ctx.progress.done();
      const restored = Object.values(report.keys).reduce((a, b) => a + b, 0);
      if (!options.dryRun && report.written !== restored) {
        throw new LifeboatError(
          'integrity',
          `[source:redis] ${report.written} keys confirmed by ${ep.display}, ${restored} sent (check the target server)`,
        );
      }
      if (db === undefined && options.pattern === undefined) {
        // A whole restore must account for every key the snapshot recorded.
        const expected = Object.values(snapshotKeys).reduce((a, b) => a + b, 0);
        if (restored + report.expired !== expected) {
          throw new LifeboatError(
            'integrity',
            `[source:redis] the snapshot recorded ${expected} keys, its RDB file holds ${restored + report.expired} (run lifeboat check --read-data)`,
          );
        }
      }
      const items = Object.entries(report.keys).map(([d, n]) => `db${d}: ${n} key${n === 1 ? '' : 's'}`);
      if (keyByKey) items.push(keyByKey);
      if (report.expired > 0)
        items.push(`skipped ${report.expired} expired key${report.expired === 1 ? '' : 's'}`);
      if (report.functions > 0) items.push(`function libraries: ${report.functions}`);
      return {
        target: ep.display,
        items,
        stats: {
          keys: report.keys,
          keysTotal: restored,
          written: report.written,
          expired: report.expired,
          functions: report.functions,
          bytes: node.size,
        },
      };
    } finally {
      await conn.close();
    }
  }
}

/** Function libraries on the server (0 before Redis 7, which has none). */
async function functionCount(conn: RedisConnection): Promise<number> {
  const r = await conn.call(['FUNCTION', 'LIST']);
  return Array.isArray(r) ? r.length : 0;
}

function backupError(ep: RedisEndpoint, err: unknown): unknown {
  if (isLifeboatError(err)) return err;
  if (err instanceof RdbFormatError) {
    return new LifeboatError(
      'source_failed',
      `[source:redis] the RDB snapshot from ${ep.display} cannot be read: ${err.message}`,
      { cause: err },
    );
  }
  return new LifeboatError(
    'source_failed',
    `[source:redis] backup of ${ep.display} failed: ${describe(err)}`,
    {
      cause: err,
    },
  );
}

async function pickArtifact(ctx: RestoreContext): Promise<TreeNode> {
  const nodes = await loadArtifacts(ctx.store, ctx.root);
  const node = nodes.find((n) => n.name === (ctx.meta.artifact ?? ARTIFACT)) ?? nodes[0];
  if (!node) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source:redis] snapshot root ${ctx.root.slice(0, 8)} holds no RDB file (run lifeboat check)`,
    );
  }
  return node;
}

async function* countBytes(
  stream: AsyncIterable<Buffer>,
  onBytes: (n: number) => void,
): AsyncIterable<Buffer> {
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}
