/**
 * @module sources/postgres/postgres-physical
 * `method: physical`: a base backup of the whole cluster, `pg_basebackup -D - -Ft -X fetch`
 * (one tar holding the data directory and the WAL needed to make it consistent) streamed
 * into the repository as the artifact `base.tar`. The snapshot records the WAL positions,
 * timeline and times around it, so a point-in-time restore can pick the base backup and
 * check the recoverable window (see postgres-pitr). Single-tablespace clusters only:
 * pg_basebackup refuses `-D -` with other tablespaces.
 */
import { readdir } from 'node:fs/promises';
import { describe, errnoCode, isLifeboatError, LifeboatError, writeFailed } from '../../errors.js';
import { makeDir } from '../../make-dir.js';
import { lendArtifact, loadArtifacts, saveArtifacts } from '../artifact.js';
import { runDumpTool } from '../dump-runner.js';
import { inspectFolderTarget } from '../folder-target.js';
import type {
  BackupContext,
  BackupResult,
  ContentStore,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  TargetContents,
} from '../source.js';
import { connect, type PgClient, query, serverInfo } from './postgres-catalog.js';
import { describeTarget, parsePgUrl, secretsOf, toolEnv, withDatabase } from './postgres-connection.js';
import type { PostgresSourceConfig } from './postgres-schema.js';
import { clientPackage, majorOf, resolveTool } from './postgres-tools.js';
import { extractTar } from './tar-extract.js';

export const BASE_ARTIFACT = 'base.tar';

interface WalPoint {
  lsn: string;
  time: string;
  timeline: number;
  walFile: string;
}

export class PostgresPhysicalSource implements Source {
  readonly type = 'postgres';
  readonly kind = 'physical';

  constructor(
    readonly name: string,
    readonly config: PostgresSourceConfig,
  ) {}

  async backup(ctx: BackupContext): Promise<BackupResult> {
    const conn = parsePgUrl(this.config.url);
    const client = await connect(withDatabase(conn, conn.database ?? 'postgres'), this.name);
    try {
      const info = await serverInfo(client);
      const serverMajor = majorOf(info.versionNum);
      const tool = await resolveTool('pg_basebackup', {
        binDir: this.config.bin_dir,
        serverMajor,
        source: this.name,
      });
      const start = await walPoint(client);
      let bytes = 0;
      // Replication connections take no database; -d is a conninfo without dbname.
      const args = ['-D', '-', '-Ft', '-X', 'fetch', '-c', 'fast', '--no-password', '-h', conn.host];
      args.push('-p', String(conn.port));
      if (conn.user !== undefined) args.push('-U', conn.user);
      args.push('-l', `lifeboat ${this.name}`);
      let root: string;
      try {
        root = await runDumpTool(
          {
            engine: 'postgres',
            command: tool,
            args,
            env: toolEnv(conn),
            packageHint: clientPackage(serverMajor),
            secrets: secretsOf(conn),
            signal: ctx.signal,
          },
          (stdout) =>
            saveArtifacts(ctx.store, [
              {
                name: BASE_ARTIFACT,
                stream: count(stdout, (n) => {
                  bytes += n;
                  ctx.progress.advance(n);
                }),
              },
            ]),
        );
      } catch (err) {
        const detail = describe(err).replace(/^\[source:postgres\]\s*/, '');
        throw new LifeboatError(
          isLifeboatError(err) ? err.code : 'source_failed',
          `[source:postgres] base backup of source "${this.name}" (${describeTarget(conn)}) failed: ${detail} (the user needs the REPLICATION attribute and a "replication" line in pg_hba.conf)`,
          { cause: err },
        );
      }
      // The backup's stop switched WAL segments, so the segment holding its end is archivable now.
      const stop = await walPoint(client);
      return {
        root,
        stats: { bytes },
        meta: {
          artifact: BASE_ARTIFACT,
          method: 'physical',
          format: 'tar',
          serverVersion: info.version,
          serverVersionNum: info.versionNum,
          timeline: stop.timeline,
          startLsn: start.lsn,
          startWal: start.walFile,
          startTime: start.time,
          stopLsn: stop.lsn,
          stopWal: stop.walFile,
          /** Recovery to a time before this cannot use this base backup. */
          endTime: stop.time,
        },
      };
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** The data directory a restore would fill (it must be new or empty). */
  inspectTarget(to: string | undefined): Promise<TargetContents> {
    if (!to) return Promise.resolve({ target: '(none)', exists: false, summary: 'no data directory given' });
    return inspectFolderTarget(to);
  }

  async restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    if (!options.to) {
      throw new LifeboatError(
        'usage',
        `[source:postgres] a physical snapshot restores into a new data directory: give --to DATADIR`,
      );
    }
    if (options.dryRun) {
      return { target: options.to, items: [BASE_ARTIFACT], stats: ctx.stats };
    }
    await extractBaseBackup(ctx.store, ctx.root, options.to);
    return { target: options.to, items: [BASE_ARTIFACT], stats: ctx.stats };
  }
}

async function walPoint(client: PgClient): Promise<WalPoint> {
  const [row] = await query<{ lsn: string; time: Date; tli: string; file: string }>(
    client,
    `SELECT pg_current_wal_lsn()::text AS lsn, clock_timestamp() AS time,
       (SELECT timeline_id FROM pg_control_checkpoint())::text AS tli,
       pg_walfile_name(pg_current_wal_lsn()) AS file`,
    [],
    'reading the WAL position',
  );
  return {
    lsn: row.lsn,
    time: new Date(row.time).toISOString(),
    timeline: Number(row.tli),
    walFile: row.file,
  };
}

async function* count(stream: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncIterable<Buffer> {
  for await (const chunk of stream) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/** Refuses a data directory that exists and is not empty; a missing one is fine (it is made). */
export async function checkDataDir(dataDir: string): Promise<void> {
  let existing: string[];
  try {
    existing = await readdir(dataDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw writeFailed('restore', dataDir, err);
  }
  if (existing.length > 0) {
    throw new LifeboatError(
      'target_not_empty',
      `[restore] ${dataDir} is not empty: a physical restore needs a new or empty data directory`,
    );
  }
}

/**
 * Extracts the base.tar of a physical snapshot into `dataDir`, which must be missing or
 * empty; it is created with mode 0700, as PostgreSQL requires. Files are written in process,
 * several at once (see tar-extract). On failure the error says that `dataDir` is partly
 * written.
 */
export async function extractBaseBackup(store: ContentStore, root: string, dataDir: string): Promise<void> {
  const nodes = await loadArtifacts(store, root);
  const node = nodes.find((n) => n.name === BASE_ARTIFACT);
  if (!node) {
    throw new LifeboatError('repo_corrupt', `[source:postgres] the snapshot holds no ${BASE_ARTIFACT}`);
  }
  await makeDir(dataDir, 0o700).catch((err) => Promise.reject(writeFailed('restore', dataDir, err)));
  await checkDataDir(dataDir);
  try {
    // No whole-file SHA-256 (lendArtifact): every chunk is authenticated as it is read.
    const content = lendArtifact(store, node);
    await extractTar(content, dataDir, {
      archive: BASE_ARTIFACT,
      release: (chunk) => content.release(chunk),
    });
  } catch (err) {
    throw new LifeboatError(
      isLifeboatError(err) ? err.code : 'source_failed',
      `${describe(err)}; ${dataDir} is partly written: remove it (or empty it) before retrying`,
      { cause: err, retryable: isLifeboatError(err) && err.retryable },
    );
  }
}
