/**
 * @module sources/redis/redis-restore
 * Logical restore of an RDB file into a running server: the file is parsed as it streams
 * out of the repository, and each chosen key becomes `RESTORE key ttl payload [REPLACE]
 * ABSTTL`, where the payload is the DUMP format built from the RDB entry (type byte, value
 * bytes as stored, RDB version, CRC-64). Commands are pipelined in batches with at most two
 * batches in flight; values too large for a batch are streamed to the socket from a second
 * read of their byte range, so memory stays bounded.
 */
import { describe, isLifeboatError, LifeboatError } from '../../errors.js';
import type { RangeReadableArtifact } from './artifact-ranges.js';
import { describeKey, parseRdb, type RdbEntry, RdbFormatError, type RdbSummary } from './rdb-parser.js';
import { isRespError, parseKeyspace, type RedisConnection, type RedisEndpoint } from './redis-connection.js';
import { redisGlobMatch } from './redis-glob.js';
import { RespWriter } from './resp-writer.js';

export interface RedisRestorePlan {
  /** Only this database. */
  db?: number;
  /** Only keys matching this Redis glob. */
  pattern?: string;
  /** REPLACE keys that exist. */
  replace: boolean;
  /** Load the snapshot's function libraries too (whole restores only). */
  functions: boolean;
  /** Count only, write nothing. */
  dryRun: boolean;
  /** Current time (ms): keys that expire at or before it are skipped. */
  now: number;
  /** Commands per batch. */
  batchSize?: number;
}

export interface RedisRestoreReport {
  /** Keys restored (or, for a dry run, to restore) per database. */
  keys: Record<string, number>;
  written: number;
  /** Keys skipped because they had already expired. */
  expired: number;
  /** Function libraries loaded. */
  functions: number;
  summary: RdbSummary;
}

interface Pending {
  kind: 'select' | 'restore' | 'function';
  key?: Buffer;
  db: number;
}

const BATCH_BYTES = 8 * 1024 * 1024;

/** Values above this are not buffered but streamed from a second read of the artifact. */
export const CAPTURE_LIMIT = 4 * 1024 * 1024;

export async function restoreRdb(
  artifact: RangeReadableArtifact,
  conn: RedisConnection | undefined,
  ep: RedisEndpoint,
  plan: RedisRestorePlan,
): Promise<RedisRestoreReport> {
  const pattern = plan.pattern !== undefined ? Buffer.from(plan.pattern, 'utf8') : undefined;
  const report: Omit<RedisRestoreReport, 'summary'> = { keys: {}, written: 0, expired: 0, functions: 0 };
  const pipeline = conn && !plan.dryRun ? new Pipeline(conn, ep, artifact, plan, report) : undefined;
  let rdbVersion = 0;
  const selected = (db: number, key: Buffer) =>
    (plan.db === undefined || db === plan.db) && (!pattern || redisGlobMatch(pattern, key));

  let summary: RdbSummary;
  try {
    summary = await parseRdb(
      versionSniffer(artifact.stream(), (v) => {
        rdbVersion = v;
      }),
      {
        wantValue: (db, key) => pipeline !== undefined && selected(db, key),
        functionCode: async (code) => {
          if (!plan.functions) return;
          report.functions++;
          await pipeline?.loadFunction(code);
        },
        entry: async (e) => {
          if (!selected(e.db, e.key)) return;
          if (e.expireMs !== undefined && e.expireMs <= plan.now) {
            report.expired++;
            return;
          }
          if (e.module !== undefined) {
            throw new LifeboatError(
              'source_failed',
              `[source:redis] key ${describeKey(e.key)} in db ${e.db} holds a value of module "${e.module}", which lifeboat does not restore key by key (restore the RDB file from \`lifeboat dump\` on a server with that module, or exclude the key with --pattern)`,
            );
          }
          const db = String(e.db);
          report.keys[db] = (report.keys[db] ?? 0) + 1;
          if (pipeline) await pipeline.restore(e, rdbVersion);
        },
      },
      { captureLimit: CAPTURE_LIMIT },
    );
    if (pipeline) await pipeline.finish();
  } catch (err) {
    pipeline?.abandon();
    if (err instanceof RdbFormatError) {
      throw new LifeboatError(
        'integrity',
        `[source:redis] the snapshot's RDB file cannot be read: ${err.message} (${report.written} keys written before this; run lifeboat check --read-data)`,
        { cause: err },
      );
    }
    throw err;
  }
  return { ...report, summary };
}

/** Reads the version from the RDB header as the stream passes (the parser needs it per key). */
async function* versionSniffer(
  stream: AsyncIterable<Buffer>,
  onVersion: (v: number) => void,
): AsyncIterable<Buffer> {
  let head = Buffer.alloc(0);
  let seen = false;
  for await (const chunk of stream) {
    if (!seen) {
      head = Buffer.concat([head, chunk.subarray(0, 9)]);
      if (head.length >= 9) {
        onVersion(Number(head.toString('latin1', 5, 9)));
        seen = true;
      }
    }
    yield chunk;
  }
}

/** Databases of the target that hold keys, from INFO keyspace. */
export async function targetKeyspace(conn: RedisConnection): Promise<Record<string, number>> {
  const info = await conn.call(['INFO', 'keyspace']);
  if (isRespError(info)) {
    const hint = /NOAUTH|WRONGPASS/.test(info.message)
      ? 'put the password in the --to URL: redis://[user]:password@host:port'
      : 'the restore user needs +info +select +restore';
    throw new LifeboatError(
      'source_failed',
      `[source:redis] ${conn.endpoint.display} refused INFO: ${info.message} (${hint})`,
    );
  }
  return parseKeyspace(Buffer.isBuffer(info) ? info.toString('latin1') : String(info));
}

class Pipeline {
  private readonly writer = new RespWriter();
  private batch: Pending[] = [];
  private inflight: Pending[] | undefined;
  private currentDb = 0;
  private readonly batchSize: number;

  constructor(
    private readonly conn: RedisConnection,
    private readonly ep: RedisEndpoint,
    private readonly artifact: RangeReadableArtifact,
    private readonly plan: RedisRestorePlan,
    private readonly report: { written: number },
  ) {
    this.batchSize = plan.batchSize ?? 1000;
  }

  private select(db: number): void {
    if (db === this.currentDb) return;
    this.writer.command(['SELECT', String(db)]);
    this.batch.push({ kind: 'select', db });
    this.currentDb = db;
  }

  async loadFunction(code: Buffer): Promise<void> {
    this.writer.command(
      this.plan.replace ? ['FUNCTION', 'LOAD', 'REPLACE', code] : ['FUNCTION', 'LOAD', code],
    );
    this.batch.push({ kind: 'function', db: this.currentDb });
    await this.maybeFlush();
  }

  async restore(e: RdbEntry, rdbVersion: number): Promise<void> {
    this.select(e.db);
    const extra: string[] = [];
    if (this.plan.replace) extra.push('REPLACE');
    const ttl = e.expireMs ?? 0;
    if (ttl > 0) extra.push('ABSTTL');
    if (e.idleSeconds !== undefined) extra.push('IDLETIME', String(e.idleSeconds));
    else if (e.freq !== undefined) extra.push('FREQ', String(e.freq));
    const trailer = Buffer.alloc(10);
    trailer.writeUInt16LE(rdbVersion, 0);
    e.payloadCrc!.copy(trailer, 2);
    const w = this.writer;
    w.arrayHeader(4 + extra.length)
      .bulk('RESTORE')
      .bulk(e.key)
      .bulk(String(ttl));
    w.bulkHeader(1 + e.valueLength + 10).bytes(Uint8Array.of(e.type));
    if (e.value) {
      for (const part of e.value) w.bytes(part);
      w.bytes(trailer).crlf();
      for (const a of extra) w.bulk(a);
      this.batch.push({ kind: 'restore', key: e.key, db: e.db });
      await this.maybeFlush();
      return;
    }
    // A large value: send what is batched, then stream the value from the repository.
    const head = w.take();
    await this.flush(head);
    try {
      for await (const piece of this.artifact.range(e.valueOffset, e.valueLength))
        await this.conn.write([piece]);
    } catch (err) {
      throw this.lost(err);
    }
    w.bytes(trailer).crlf();
    for (const a of extra) w.bulk(a);
    this.batch.push({ kind: 'restore', key: e.key, db: e.db });
    await this.flush();
  }

  private async maybeFlush(): Promise<void> {
    if (this.batch.length >= this.batchSize || this.writer.size >= BATCH_BYTES) await this.flush();
  }

  /**
   * Waits for the replies of the batch in flight, then sends the current one. `head` is the
   * start of a command whose end follows (a streamed value): it is sent with the batch.
   */
  private async flush(head?: Buffer[]): Promise<void> {
    if (this.inflight) {
      const previous = this.inflight;
      this.inflight = undefined;
      await this.confirm(previous);
    }
    const parts = head ?? this.writer.take();
    if (parts.length === 0 && this.batch.length === 0) return;
    try {
      await this.conn.write(parts);
    } catch (err) {
      throw this.lost(err);
    }
    if (head) return; // the command's end and its bookkeeping come with the next flush
    this.inflight = this.batch;
    this.batch = [];
  }

  async finish(): Promise<void> {
    await this.flush();
    if (this.inflight) {
      const last = this.inflight;
      this.inflight = undefined;
      await this.confirm(last);
    }
  }

  abandon(): void {
    this.conn.destroy();
  }

  private async confirm(sent: Pending[]): Promise<void> {
    for (const p of sent) {
      let reply: Awaited<ReturnType<RedisConnection['readReply']>>;
      try {
        reply = await this.conn.readReply();
      } catch (err) {
        throw this.lost(err);
      }
      if (isRespError(reply)) throw this.rejected(p, reply.message);
      if (p.kind === 'restore') this.report.written++;
    }
  }

  private lost(err: unknown): LifeboatError {
    if (isLifeboatError(err)) return err;
    return new LifeboatError(
      'source_failed',
      `[source:redis] restore into ${this.ep.display} failed: ${this.report.written} keys written before the connection was lost (${describe(err)}); once the server is back, run the restore again with --overwrite`,
      { cause: err, retryable: true },
    );
  }

  private rejected(p: Pending, message: string): LifeboatError {
    const what =
      p.kind === 'select'
        ? `SELECT ${p.db}`
        : p.kind === 'function'
          ? 'FUNCTION LOAD'
          : `RESTORE of key ${describeKey(p.key!)} in db ${p.db}`;
    let hint = 'check the target server';
    if (/BUSYKEY/.test(message)) hint = 'the key exists: pass --overwrite to replace it';
    else if (/payload version or checksum/i.test(message)) {
      hint =
        'the snapshot comes from a newer Redis than the target: restore into a Redis of at least the same version';
    } else if (/NOPERM|NOAUTH/.test(message))
      hint = 'the restore user needs +restore +select +info, or +@all';
    else if (/already exists/.test(message)) hint = 'pass --overwrite to replace existing function libraries';
    return new LifeboatError(
      'source_failed',
      `[source:redis] ${what} into ${this.ep.display} failed: ${message} (${this.report.written} keys written before the error; ${hint})`,
    );
  }
}
