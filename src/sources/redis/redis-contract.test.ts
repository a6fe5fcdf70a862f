/**
 * The redis engine through the shared source contract (testing/source-contract), against
 * throwaway redis-servers: one holding the data, one to restore into (emptied per target).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type RedisServer, redisUnavailable, startRedis } from '../../testing/servers/redis.js';
import { runSourceContract } from '../../testing/source-contract.js';
import { isRespError, type RedisConnection, type Reply } from './redis-connection.js';

async function call(conn: RedisConnection, args: string[]): Promise<Reply> {
  const r = await conn.call(args);
  if (isRespError(r)) throw new Error(`${args[0]} failed: ${r.message}`);
  return r;
}

/** Per database number: every key with the digest of its DUMP payload. */
async function keysOf(server: RedisServer): Promise<Record<string, Record<string, string>>> {
  const conn = await server.connect();
  try {
    const out: Record<string, Record<string, string>> = {};
    for (const db of ['0', '1', '2']) {
      await call(conn, ['SELECT', db]);
      const keys = ((await call(conn, ['KEYS', '*'])) as Buffer[]).map(String).sort();
      if (keys.length === 0) continue;
      out[db] = {};
      for (const key of keys) {
        const dump = (await call(conn, ['DUMP', key])) as Buffer;
        out[db][key] = createHash('sha256').update(dump).digest('hex');
      }
    }
    return out;
  } finally {
    await conn.close();
  }
}

const why = redisUnavailable();
runSourceContract(
  'redis',
  async (defer) => {
    const source = await startRedis();
    defer(() => source.stop());
    const target = await startRedis();
    defer(() => target.stop());
    const conn = await source.connect();
    try {
      for (let i = 0; i < 50; i++) await call(conn, ['SET', `user:${i}`, `name ${i}`]);
      await call(conn, ['HSET', 'cart:1', 'apples', '3', 'pears', '1']);
      await call(conn, ['RPUSH', 'queue', 'a', 'b', 'c']);
      await call(conn, ['SELECT', '1']);
      for (let i = 0; i < 20; i++) await call(conn, ['SET', `session:${i}`, 'x'.repeat(i * 10)]);
    } finally {
      await conn.close();
    }
    const servers = new Map([[target.url, target]]);
    const digest = async (url?: string) =>
      JSON.stringify(await keysOf(url === undefined ? source : (servers.get(url) as RedisServer)));
    return {
      config: { type: 'redis', url: source.url },
      target: async () => {
        const c = await target.connect();
        await call(c, ['FLUSHALL']).finally(() => c.close());
        return target.url;
      },
      digest,
      scopes: {
        db: {
          options: { db: 1 },
          check: async () => {
            const got = await keysOf(target);
            assert.deepEqual(Object.keys(got), ['1']);
            assert.deepEqual(got['1'], (await keysOf(source))['1']);
          },
        },
        pattern: {
          options: { pattern: 'user:*' },
          check: async () => {
            const got = await keysOf(target);
            const want = Object.keys((await keysOf(source))['0']).filter((k) => k.startsWith('user:'));
            assert.deepEqual(Object.keys(got['0'] ?? {}).sort(), want.sort());
            assert.equal(got['1'], undefined);
          },
        },
      },
    };
  },
  { skip: why ?? undefined },
);
