/**
 * @module test/helpers/mongo
 * A MongoDB server for live suites: a throwaway single-node replica set started from `mongod`
 * on PATH (snapshot reads need a replica set), or the server at LIFEBOAT_TEST_MONGO_URL.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort } from '../../src/testing/servers/free-port.js';

/** Whether `cmd` runs here. */
export const has = (cmd: string) => !spawnSync(cmd, ['--version'], { encoding: 'utf8' }).error;

/** Why no MongoDB suite can run here, or null. */
export function mongoUnavailable(): string | null {
  return process.env.LIFEBOAT_TEST_MONGO_URL || has('mongod')
    ? null
    : 'no mongod on PATH and LIFEBOAT_TEST_MONGO_URL is not set';
}

/** Starts mongod as a single-node replica set in `dir`; resolves once it is primary. */
export async function startMongod(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  await mkdir(join(dir, 'db'));
  const child = spawn(
    'mongod',
    [
      '--replSet',
      'rs0',
      '--port',
      String(port),
      '--bind_ip',
      '127.0.0.1',
      '--dbpath',
      join(dir, 'db'),
      '--logpath',
      join(dir, 'mongod.log'),
    ],
    { stdio: 'ignore' },
  );
  const url = `mongodb://127.0.0.1:${port}/?directConnection=true`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 1000 });
    try {
      await client.connect();
      await client
        .db('admin')
        .command({ replSetInitiate: { _id: 'rs0', members: [{ _id: 0, host: `127.0.0.1:${port}` }] } })
        .catch(() => {});
      const hello = await client.db('admin').command({ hello: 1 });
      if (hello.isWritablePrimary) return { url, child };
    } catch {
      if (Date.now() > deadline) throw new Error('mongod did not start');
    } finally {
      await client.close();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
