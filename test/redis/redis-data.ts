/**
 * @module test/redis/redis-data
 * Test data for Redis suites: every value type and encoding Redis 7 writes (compact and
 * large forms), binary and compressible keys, TTLs, several databases, a function library;
 * and a key-by-key comparison of two servers (DUMP payload, PTTL).
 */
import assert from 'node:assert/strict';
import type { Reply } from '../../src/sources/redis/redis-connection.js';
import { isRespError, type RedisConnection } from '../../src/sources/redis/redis-connection.js';
import { RespWriter } from '../../src/sources/redis/resp-writer.js';
import { SeededRandom } from '../helpers/data-gen.js';

export const LIBRARY =
  "#!lua name=lifeboatlib\nredis.register_function('echo1', function(keys, args) return args[1] end)";

export async function ok(conn: RedisConnection, args: (string | Buffer)[]): Promise<Reply> {
  const r = await conn.call(args);
  if (isRespError(r)) throw new Error(`${args[0]} failed: ${r.message}`);
  return r;
}

/** Sends many commands in one pipeline and checks every reply. */
export async function pipeline(conn: RedisConnection, commands: (string | Buffer)[][]): Promise<void> {
  for (let i = 0; i < commands.length; i += 1000) {
    const w = new RespWriter();
    const batch = commands.slice(i, i + 1000);
    for (const c of batch) w.command(c);
    await conn.write(w.take());
    for (const c of batch) {
      const r = await conn.readReply();
      if (isRespError(r)) throw new Error(`${c[0]} failed: ${r.message}`);
    }
  }
}

/** Fills dbs 0, 1 and 5 with every type; returns the number of keys written per db. */
export async function populate(conn: RedisConnection, seed = 'redis-data'): Promise<Record<string, number>> {
  const rnd = new SeededRandom(seed);
  const word = (n: number) => rnd.bytes(n).toString('hex').slice(0, n);
  const soon = Date.now() + 3_600_000;
  const counts: Record<string, number> = {};
  const cmds: (string | Buffer)[][] = [];
  const select = (db: number) => cmds.push(['SELECT', String(db)]);
  const key = (db: number) => {
    counts[db] = (counts[db] ?? 0) + 1;
  };

  select(0);
  // Strings: small, integer-encoded, long compressible (LZF), random binary, empty, unicode.
  cmds.push(['SET', 'str:small', 'hello']);
  cmds.push(['SET', 'str:int', '12345']);
  cmds.push(['SET', 'str:negint', '-987654321']);
  cmds.push(['SET', 'str:lzf', 'abcdefgh'.repeat(500)]);
  cmds.push(['SET', 'str:binary', rnd.bytes(3000)]);
  cmds.push(['SET', 'str:empty', '']);
  cmds.push(['SET', 'str:unicode', 'Grüße, 世界 🚣']);
  cmds.push(['SET', Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a]), 'binary key']);
  // A long, compressible key name: stored LZF-compressed in the RDB.
  cmds.push(['SET', `long:${'key-name-'.repeat(20)}`, 'v']);
  for (let i = 0; i < 9; i++) key(0);
  // TTLs: seconds away and hours away.
  cmds.push(['SET', 'ttl:ex', 'v', 'EX', '500']);
  cmds.push(['SET', 'ttl:pxat', 'v', 'PXAT', String(soon)]);
  cmds.push(['RPUSH', 'ttl:list', 'a', 'b']);
  cmds.push(['PEXPIRE', 'ttl:list', '900000']);
  for (let i = 0; i < 3; i++) key(0);
  // Lists: a small listpack, a multi-node quicklist, plain nodes (elements > 8 KiB).
  cmds.push(['RPUSH', 'list:small', 'a', '1', 'b', '-2']);
  cmds.push(['RPUSH', 'list:big', ...Array.from({ length: 3000 }, (_, i) => `element-${i}-${word(10)}`)]);
  cmds.push(['RPUSH', 'list:plain', 'x'.repeat(10_000), rnd.bytes(20_000), 'small']);
  for (let i = 0; i < 3; i++) key(0);
  // Sets: intset, listpack, hashtable.
  cmds.push(['SADD', 'set:intset', '1', '2', '3', '100000', '-5']);
  cmds.push(['SADD', 'set:small', 'a', 'b', 'c']);
  cmds.push(['SADD', 'set:big', ...Array.from({ length: 1000 }, (_, i) => `member-${i}`)]);
  for (let i = 0; i < 3; i++) key(0);
  // Sorted sets: listpack and skiplist, special scores.
  cmds.push(['ZADD', 'zset:small', '1', 'a', '2.5', 'b', '-inf', 'low', '+inf', 'high']);
  cmds.push(['ZADD', 'zset:big', ...Array.from({ length: 500 }, (_, i) => [String(i / 3), `m${i}`]).flat()]);
  for (let i = 0; i < 2; i++) key(0);
  // Hashes: listpack and hashtable.
  cmds.push(['HSET', 'hash:small', 'f1', 'v1', 'f2', '2']);
  cmds.push(['HSET', 'hash:big', ...Array.from({ length: 800 }, (_, i) => [`field-${i}`, word(80)]).flat()]);
  for (let i = 0; i < 2; i++) key(0);
  // A stream with deleted entries, a consumer group, pending entries and a consumer.
  for (let i = 0; i < 300; i++)
    cmds.push(['XADD', 'stream:events', '*', 'n', String(i), 'payload', word(20)]);
  cmds.push(['XDEL', 'stream:events', '0-1']);
  cmds.push(['XGROUP', 'CREATE', 'stream:events', 'workers', '0']);
  cmds.push(['XREADGROUP', 'GROUP', 'workers', 'alice', 'COUNT', '10', 'STREAMS', 'stream:events', '>']);
  cmds.push(['XGROUP', 'CREATECONSUMER', 'stream:events', 'workers', 'bob']);
  cmds.push(['XADD', 'stream:empty', 'MAXLEN', '0', '*', 'x', 'y']);
  for (let i = 0; i < 2; i++) key(0);
  // Patterned keys for --pattern.
  for (let i = 0; i < 50; i++) {
    cmds.push(['SET', `user:${i}`, `name-${i}`]);
    cmds.push(['SET', `session:${i}`, word(16), 'EX', '7200']);
  }
  for (let i = 0; i < 100; i++) key(0);
  // Other databases.
  select(1);
  for (let i = 0; i < 200; i++) cmds.push(['SET', `db1:${i}`, word(30)]);
  cmds.push(['HSET', 'user:db1', 'a', 'b']);
  for (let i = 0; i < 201; i++) key(1);
  select(5);
  cmds.push(['SET', 'user:five', '5', 'PX', '600000']);
  cmds.push(['LPUSH', 'db5:list', 'x', 'y', 'z']);
  for (let i = 0; i < 2; i++) key(5);
  select(0);
  await pipeline(conn, cmds);
  await ok(conn, ['FUNCTION', 'LOAD', LIBRARY]);
  return counts;
}

export interface KeyState {
  dump: string;
  pttl: number;
  /** When PTTL was read (ms), so TTLs read at different times compare as absolute expiries. */
  at: number;
}

/** Every key of every database with keys: DUMP payload (hex) and PTTL. */
export async function readAll(conn: RedisConnection, dbs = 16): Promise<Map<string, Map<string, KeyState>>> {
  const out = new Map<string, Map<string, KeyState>>();
  for (let db = 0; db < dbs; db++) {
    await ok(conn, ['SELECT', String(db)]);
    const keys: Buffer[] = [];
    let cursor = '0';
    do {
      const r = (await ok(conn, ['SCAN', cursor, 'COUNT', '1000'])) as [Buffer, Buffer[]];
      cursor = r[0].toString();
      keys.push(...r[1]);
    } while (cursor !== '0');
    if (keys.length === 0) continue;
    const m = new Map<string, KeyState>();
    for (const k of keys) {
      const pttl = (await ok(conn, ['PTTL', k])) as number;
      m.set(k.toString('hex'), { dump: await canonicalDump(conn, k), pttl, at: Date.now() });
    }
    out.set(String(db), m);
  }
  await ok(conn, ['SELECT', '0']);
  return out;
}

/**
 * The DUMP payload (hex) of a key, except for hashtable-encoded sets and hashes, whose DUMP
 * lists elements in hash order, which differs between two servers (random hash seeds): those
 * compare by their sorted content instead.
 */
async function canonicalDump(conn: RedisConnection, k: Buffer): Promise<string> {
  const encoding = String(await ok(conn, ['OBJECT', 'ENCODING', k]));
  if (encoding === 'hashtable') {
    const type = String(await ok(conn, ['TYPE', k]));
    const items = (await ok(conn, type === 'set' ? ['SMEMBERS', k] : ['HGETALL', k])) as Buffer[];
    const entries: string[] = [];
    const step = type === 'set' ? 1 : 2;
    for (let i = 0; i < items.length; i += step) {
      entries.push(
        items
          .slice(i, i + step)
          .map((b) => b.toString('hex'))
          .join('='),
      );
    }
    return `${type}:${entries.sort().join(',')}`;
  }
  return ((await ok(conn, ['DUMP', k])) as Buffer).toString('hex');
}

/**
 * Asserts two key sets are equal: same keys, same DUMP payloads, and the same expiry within
 * `toleranceMs` (PTTL plus the time it was read: the two sides were read at different times).
 */
export function assertSameKeys(
  actual: Map<string, Map<string, KeyState>>,
  expected: Map<string, Map<string, KeyState>>,
  toleranceMs = 1000,
): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), 'databases with keys');
  for (const [db, keys] of expected) {
    const got = actual.get(db)!;
    assert.deepEqual([...got.keys()].sort(), [...keys.keys()].sort(), `keys of db ${db}`);
    for (const [k, want] of keys) {
      const have = got.get(k)!;
      const name = Buffer.from(k, 'hex').toString('latin1');
      assert.equal(have.dump, want.dump, `DUMP of ${name} in db ${db}`);
      if (want.pttl < 0) assert.equal(have.pttl, want.pttl, `PTTL of ${name} in db ${db}`);
      else {
        assert.ok(have.pttl > 0, `${name} in db ${db} lost its TTL`);
        const drift = have.at + have.pttl - (want.at + want.pttl);
        assert.ok(Math.abs(drift) <= toleranceMs, `expiry of ${name} in db ${db} moved by ${drift} ms`);
      }
    }
  }
}

export function countKeys(state: Map<string, Map<string, KeyState>>): Record<string, number> {
  return Object.fromEntries([...state].map(([db, m]) => [db, m.size]));
}
