/**
 * @module testing/servers/mongod
 * The tests' throwaway MongoDB: a single-node replica set (snapshot reads need one) from
 * `mongod` on PATH, on a free loopback port, its data in the given folder; or the server at
 * LIFEBOAT_TEST_MONGO_URL.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort } from './free-port.js';

/** Why no MongoDB can be had here, printed as SKIPPED; null when one can. */
export function mongoUnavailable(): string | null {
  if (process.env.LIFEBOAT_TEST_MONGO_URL) return null;
  if (!spawnSync('mongod', ['--version'], { encoding: 'utf8' }).error) return null;
  return 'no mongod on PATH and LIFEBOAT_TEST_MONGO_URL is not set';
}

/** Starts mongod in `dir` and initiates its replica set; resolves once it is primary. */
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
