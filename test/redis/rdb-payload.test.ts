/**
 * @module test/redis/rdb-payload
 * The DUMP payloads lifeboat builds from RDB entries are byte for byte what the server's own
 * DUMP returns, for every type and encoding (checked against a live server), so RESTORE gets
 * exactly what DUMP would have given it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseRdb } from '../../src/sources/redis/rdb-parser.js';
import { parseRedisUrl, type RedisConnection } from '../../src/sources/redis/redis-connection.js';
import { openRdbTransfer } from '../../src/sources/redis/redis-replication.js';
import { type RedisServer, redisUnavailable, startRedis } from '../../src/testing/servers/redis.js';
import { ok, populate } from './redis-data.js';

const skip = redisUnavailable();
if (skip) console.log(`SKIPPED redis payload suite: ${skip}`);

describe('DUMP payloads built from the RDB', { skip: skip ?? false }, () => {
  let server: RedisServer;
  let conn: RedisConnection;
  before(async () => {
    server = await startRedis();
    conn = await server.connect();
    await populate(conn, 'payloads');
  });
  after(async () => {
    await conn?.close();
    await server?.stop();
  });

  it('equal the server DUMP of every key', async () => {
    const transfer = await openRdbTransfer(parseRedisUrl(server.url));
    const payloads: { db: number; key: Buffer; payload: Buffer }[] = [];
    const summary = await parseRdb(transfer.stream, {
      wantValue: () => true,
      entry: (e) => {
        const ver = Buffer.alloc(2);
        ver.writeUInt16LE(10);
        payloads.push({
          db: e.db,
          key: e.key,
          payload: Buffer.concat([Buffer.from([e.type]), ...e.value!, ver, e.payloadCrc!]),
        });
      },
    });
    assert.ok(payloads.length > 300);
    assert.equal(
      payloads.length,
      Object.values(summary.keys).reduce((a, b) => a + b, 0),
    );
    for (const p of payloads) {
      await ok(conn, ['SELECT', String(p.db)]);
      const dump = (await ok(conn, ['DUMP', p.key])) as Buffer;
      assert.equal(p.payload.toString('hex'), dump.toString('hex'), `payload of ${p.key.toString('latin1')}`);
    }
  });
});
