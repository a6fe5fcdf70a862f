/**
 * @module sources/redis/redis-replication
 * A point-in-time RDB snapshot over the replication protocol, as `redis-cli --rdb` takes it:
 * announce the capabilities of a replica that understands diskless transfers, ask for a full
 * resynchronisation, and stream the RDB payload that follows, either `$<length>` bytes or the
 * diskless form delimited by `$EOF:<40-byte mark>`. Nothing is buffered beyond a chunk.
 */
import { describe, LifeboatError } from '../../errors.js';
import { isRespError, RedisConnection, type RedisEndpoint } from './redis-connection.js';
import { encodeCommand } from './resp-writer.js';

export interface RdbTransfer {
  /** The RDB file, byte for byte. */
  stream: AsyncIterable<Buffer>;
  /** 'disk' when the server sent a length first, 'diskless' for the EOF-mark form. */
  form: 'disk' | 'diskless';
  /** redis_version from INFO server, when the user may run INFO. */
  serverVersion?: string;
  close(): Promise<void>;
}

const PIECE = 1024 * 1024;
const MARK_LENGTH = 40;

/** Permissions an ACL user needs for backups, for messages. */
export const BACKUP_PERMISSIONS = '+psync +replconf +ping +info (or +@admin)';

/** Aborting `signal` closes the connection: a handshake waiting for the server's snapshot stops. */
export async function openRdbTransfer(ep: RedisEndpoint, signal?: AbortSignal): Promise<RdbTransfer> {
  const conn = await RedisConnection.open(ep, { signal });
  const onAbort = () => conn.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    let serverVersion: string | undefined;
    const info = await conn.call(['INFO', 'server']);
    if (Buffer.isBuffer(info)) serverVersion = /^redis_version:(\S+)/m.exec(info.toString('latin1'))?.[1];

    const capa = await conn.call(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']);
    if (isRespError(capa)) throw refused(ep, 'REPLCONF', capa.message);
    // Redis 7+: this replica only wants the RDB, not the command stream after it.
    await conn.call(['REPLCONF', 'rdb-only', '1']);
    // While the server waits for more replicas (repl-diskless-sync-delay) or prepares the
    // snapshot, it sends bare newlines: before +FULLRESYNC as well as after it.
    await conn.write([encodeCommand(['PSYNC', '?', '-1'])]);
    let psync: string;
    do psync = (await conn.readLine()).toString('latin1');
    while (psync === '');
    if (psync.startsWith('-')) throw refused(ep, 'PSYNC', psync.slice(1));
    if (!psync.startsWith('+FULLRESYNC')) {
      throw new LifeboatError(
        'source_failed',
        `[source:redis] ${ep.display} answered PSYNC with "${psync.slice(0, 60)}" instead of a full resynchronisation`,
      );
    }
    let header: string;
    for (;;) {
      const line = (await conn.readLine()).toString('latin1');
      if (line === '') continue;
      header = line;
      break;
    }
    if (header.startsWith('-')) throw refused(ep, 'SYNC', header.slice(1));
    if (!header.startsWith('$')) {
      throw new LifeboatError(
        'source_failed',
        `[source:redis] ${ep.display} sent "${header.slice(0, 60)}" where the RDB payload should start`,
      );
    }
    const stream = header.startsWith('$EOF:')
      ? disklessPayload(conn, Buffer.from(header.slice(5), 'latin1'), ep)
      : sizedPayload(conn, Number(header.slice(1)), ep);
    return {
      stream,
      form: header.startsWith('$EOF:') ? 'diskless' : 'disk',
      serverVersion,
      close: () => {
        signal?.removeEventListener('abort', onAbort);
        return conn.close();
      },
    };
  } catch (err) {
    conn.destroy();
    if (signal?.aborted) throw signal.reason;
    if (err instanceof LifeboatError) throw err;
    throw new LifeboatError(
      'source_failed',
      `[source:redis] the replication handshake with ${ep.display} failed: ${describe(err)}`,
      { cause: err, retryable: true },
    );
  }
}

function refused(ep: RedisEndpoint, command: string, message: string): LifeboatError {
  const perm = /NOPERM|NOAUTH|WRONGPASS/.test(message);
  return new LifeboatError(
    'source_unreadable',
    `[source:redis] ${ep.display} refused ${command}: ${message}${perm ? ` (a backup needs a password in the URL and, for an ACL user, ${BACKUP_PERMISSIONS})` : ''}`,
  );
}

async function* sizedPayload(conn: RedisConnection, size: number, ep: RedisEndpoint): AsyncIterable<Buffer> {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new LifeboatError(
      'source_failed',
      `[source:redis] ${ep.display} announced an RDB payload of invalid size`,
    );
  }
  let left = size;
  try {
    while (left > 0) {
      const piece = await conn.reader.chunk(Math.min(left, PIECE));
      if (piece.length === 0) throw lost(ep, size - left, conn);
      left -= piece.length;
      yield piece;
    }
  } finally {
    await conn.close();
  }
}

async function* disklessPayload(
  conn: RedisConnection,
  mark: Buffer,
  ep: RedisEndpoint,
): AsyncIterable<Buffer> {
  if (mark.length !== MARK_LENGTH) {
    throw new LifeboatError('source_failed', `[source:redis] ${ep.display} sent a malformed EOF mark`);
  }
  // The last 40 bytes may be the mark, so they are held back until more data arrives.
  let tail = Buffer.alloc(0);
  let received = 0;
  try {
    for (;;) {
      const piece = await conn.reader.chunk(PIECE);
      if (piece.length === 0) throw lost(ep, received, conn);
      received += piece.length;
      const data = tail.length > 0 ? Buffer.concat([tail, piece]) : piece;
      const at = data.indexOf(mark);
      if (at >= 0) {
        if (at > 0) yield data.subarray(0, at);
        return;
      }
      const keep = Math.min(MARK_LENGTH, data.length);
      if (data.length > keep) yield data.subarray(0, data.length - keep);
      tail = Buffer.from(data.subarray(data.length - keep));
    }
  } finally {
    await conn.close();
  }
}

function lost(ep: RedisEndpoint, received: number, conn: RedisConnection): LifeboatError {
  const why = conn.failed ? `: ${conn.failed.message}` : '';
  return new LifeboatError(
    'source_failed',
    `[source:redis] the connection to ${ep.display} closed after ${received} bytes of the RDB payload${why} (the server may have restarted or hit its output buffer limit for replicas; retry the backup)`,
    { retryable: true },
  );
}
