/**
 * @module sources/postgres/postgres-backup
 * Backup of one database: a repeatable-read transaction exports its snapshot; `pg_dump -Fc
 * --snapshot` streams the archive into the repository while the same transaction counts rows
 * and reads the schema, so the statistics describe exactly the data dumped, even under load.
 */
import { parseByteSize } from '../../byte-size.js';
import { describe, isLifeboatError, LifeboatError } from '../../errors.js';
import { saveArtifacts } from '../artifact.js';
import { runDumpTool } from '../dump-runner.js';
import type { BackupContext, BackupResult } from '../source.js';
import { ArchiveOffsets } from './postgres-archive-offsets.js';
import {
  connect,
  countLargeObjects,
  countRows,
  ownedByTable,
  type PgClient,
  query,
  schemaDigest,
  serverInfo,
} from './postgres-catalog.js';
import {
  describeTarget,
  type PgConnection,
  parsePgUrl,
  secretsOf,
  toolConnArgs,
  toolEnv,
  withDatabase,
} from './postgres-connection.js';
import type { PostgresSourceRef } from './postgres-schema.js';
import { checkedTool, clientPackage, majorOf } from './postgres-tools.js';

export const DEFAULT_EXACT_COUNT_LIMIT = '1GB';

/** The archive's name in the snapshot: the database name, made a safe file name. */
export function artifactName(database: string): string {
  const safe = database.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return `${safe || 'database'}.pgdump`;
}

export async function backupDatabase(
  source: PostgresSourceRef,
  database: string,
  ctx: BackupContext,
): Promise<BackupResult> {
  const conn = withDatabase(parsePgUrl(source.config.url), database);
  const client = await connect(conn, source.name);
  try {
    const info = await serverInfo(client);
    const serverMajor = majorOf(info.versionNum);
    // pg_dump's version is checked (a process started) while the transaction starts.
    const tool = checkedTool('pg_dump', {
      binDir: source.config.bin_dir,
      serverMajor,
      source: source.name,
      needed: { major: serverMajor, text: info.version },
    });
    tool.catch(() => {}); // reported where it is awaited, unless the transaction fails first
    await query(
      client,
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      [],
      'starting the backup transaction',
    );
    const [{ snapshot }] = await query<{ snapshot: string }>(
      client,
      'SELECT pg_export_snapshot() AS snapshot',
      [],
      'exporting a snapshot',
    );
    const pgDump = await tool;

    const abort = new AbortController();
    const onOuterAbort = () => abort.abort(ctx.signal?.reason);
    ctx.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (ctx.signal?.aborted) onOuterAbort(); // given up while the transaction started
    const level = source.config.compression ?? 0;
    const artifact = artifactName(database);
    // An uncompressed archive's rows are counted as it passes: no count(*) beside the dump.
    const walker = level === 0 ? new ArchiveOffsets() : undefined;
    let bytes = 0;
    const dump = runDumpTool(
      {
        engine: 'postgres',
        command: pgDump.path,
        args: ['-Fc', `-Z${level}`, `--snapshot=${snapshot}`, '--no-password', ...toolConnArgs(conn)],
        env: toolEnv(conn),
        packageHint: clientPackage(serverMajor),
        secrets: secretsOf(conn),
        signal: abort.signal,
      },
      (stdout) =>
        saveArtifacts(ctx.store, [
          {
            name: artifact,
            stream: guard(stdout, abort.signal, (chunk) => {
              bytes += chunk.length;
              walker?.push(chunk);
              ctx.progress.advance(chunk.length);
            }),
          },
        ]),
    );
    // The first failure is the one to report; it stops the other side (a failed count kills
    // pg_dump through the signal; a failed dump closes the connection the counts run on).
    let first: unknown;
    const fail = (err: unknown) => {
      first ??= err;
      abort.abort(err);
      void client.end().catch(() => {});
      throw err;
    };
    const limit = parseByteSize(source.config.exact_count_limit ?? DEFAULT_EXACT_COUNT_LIMIT);
    const settled = await Promise.allSettled([
      dump.catch(fail),
      gatherFacts(client, walker ? -1 : limit).catch(fail),
    ]);
    ctx.signal?.removeEventListener('abort', onOuterAbort);
    if (first !== undefined) throw dumpFailed(source.name, conn, first);
    const root = (settled[0] as PromiseFulfilledResult<string>).value;
    const stats = (settled[1] as PromiseFulfilledResult<Awaited<ReturnType<typeof gatherFacts>>>).value;
    if (walker) {
      walker.end();
      const counted = walker.rows();
      if (counted && Object.keys(stats.rows).every((t) => t in counted)) {
        for (const t of Object.keys(stats.rows)) stats.rows[t] = counted[t];
        stats.estimated = [];
      } else Object.assign(stats, await countRows(client, limit)); // still in the dump's snapshot
    }
    await query(client, 'COMMIT', [], 'ending the backup transaction');
    return {
      root,
      stats: {
        rows: stats.rows,
        rowsEstimated: stats.estimated,
        tables: Object.keys(stats.rows).length,
        largeObjects: stats.largeObjects,
        schemaDigest: stats.digest,
        bytes,
      },
      meta: {
        database,
        artifact,
        format: 'custom',
        compression: level,
        serverVersion: info.version,
        serverVersionNum: info.versionNum,
        pgDumpVersion: pgDump.version.text,
        pgDumpMajor: pgDump.version.major,
        encoding: info.encoding,
        collate: info.collate,
        ctype: info.ctype,
        tableBytes: stats.tableBytes,
        owned: stats.owned,
      },
    };
  } finally {
    await client.end().catch(() => {});
  }
}

async function gatherFacts(client: PgClient, exactLimit: number) {
  const counted = await countRows(client, exactLimit);
  const largeObjects = await countLargeObjects(client);
  const owned = await ownedByTable(client);
  const digest = await schemaDigest(client);
  return { ...counted, largeObjects, owned, digest };
}

/** Passes the dump through, showing each piece to `onChunk`; stops with the abort reason once aborted. */
async function* guard(
  stream: AsyncIterable<Buffer>,
  signal: AbortSignal,
  onChunk: (chunk: Buffer) => void,
): AsyncIterable<Buffer> {
  for await (const chunk of stream) {
    signal.throwIfAborted();
    onChunk(chunk);
    yield chunk;
  }
  signal.throwIfAborted();
}

/** "[source:postgres] backup of source "app/sales" (db:5432/sales) failed: pg_dump exited ...". */
function dumpFailed(source: string, conn: PgConnection, err: unknown): LifeboatError {
  const detail = describe(err).replace(/^\[source:postgres\]\s*/, '');
  return new LifeboatError(
    isLifeboatError(err) ? err.code : 'source_failed',
    `[source:postgres] backup of source "${source}" (${describeTarget(conn)}) failed: ${detail}`,
    { cause: err },
  );
}
