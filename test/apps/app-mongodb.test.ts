/**
 * @module test/apps/app-mongodb
 * An application with a MongoDB source, through the same code paths as the others: a point
 * (MongoDB and files), `points`, the plan (what the MongoDB target holds), a restore of the
 * point to staging verified against the snapshot's document counts, and `--at` choosing the
 * newest point at or before the time. Needs `mongod` on PATH or LIFEBOAT_TEST_MONGO_URL;
 * prints SKIPPED with the reason otherwise.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import { stringify } from 'yaml';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { mongoUnavailable, startMongod } from '../helpers/mongo.js';

const skip = mongoUnavailable();
if (skip) console.log(`SKIPPED mongodb app suite: ${skip}`);

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

test('an application with a MongoDB source: point, plan, restore, at a time', {
  skip: skip ?? false,
  timeout: 300_000,
}, async () => {
  const { dir, cleanup } = await tempDir('lifeboat-app-mongo-');
  let mongod: ChildProcess | undefined;
  let client: MongoClient | undefined;
  const db = `lifeboat_app_${randomBytes(4).toString('hex')}`;
  try {
    let url = process.env.LIFEBOAT_TEST_MONGO_URL ?? '';
    if (!url) ({ url, child: mongod } = await startMongod(dir));
    client = new MongoClient(url);
    await client.connect();
    const files = join(dir, 'files');
    await mkdir(files);
    const env = { ...repoEnv(join(dir, 'repo')), LIFEBOAT_CONFIG: join(dir, 'lifeboat.yaml') };
    await writeFile(
      join(dir, 'lifeboat.yaml'),
      stringify({
        sources: {
          docs: { type: 'mongodb', url, databases: [db] },
          uploads: { type: 'files', path: files },
        },
        apps: {
          notes: {
            sources: ['docs', 'uploads'],
            environments: { staging: { targets: { docs: url, uploads: join(dir, 'staging-files') } } },
          },
        },
      }),
    );
    const lifeboat = async (args: string[]): Promise<CliResult> => {
      const r = await runCli(args, env);
      assert.equal(r.code, 0, show(args, r));
      return r;
    };
    await lifeboat(['init']);
    const items = client.db(db).collection('items');
    await items.insertMany(Array.from({ length: 30 }, (_, i) => ({ n: i, batch: 'A' })));
    await writeFile(join(files, 'a.txt'), 'a');
    const first = JSON.parse((await lifeboat(['backup', '--app', 'notes', '--json'])).stdout);
    assert.equal(first.complete, true);
    await new Promise((r) => setTimeout(r, 1100));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await items.insertMany(Array.from({ length: 10 }, (_, i) => ({ n: 100 + i, batch: 'B' })));
    await writeFile(join(files, 'b.txt'), 'b');
    await lifeboat(['backup', '--app', 'notes']);

    const points = JSON.parse((await lifeboat(['points', '--app', 'notes', '--json'])).stdout);
    assert.equal(points.length, 2);
    assert.ok(points.every((p: { complete: boolean }) => p.complete));

    // The plan says what the MongoDB target holds now: the collection it replaces.
    const dry = await lifeboat([
      'restore',
      '--app',
      'notes',
      '--at',
      between,
      '--env',
      'staging',
      '--dry-run',
    ]);
    assert.match(dry.stdout, /^ {2}docs \(mongodb\): snapshot [0-9a-f]{8} /m);
    assert.match(dry.stdout, new RegExp(`^ {6}${db}\\.items: 40 documents$`, 'm'));

    // At a time between the points: the first point's data, verified by its counts.
    const restored = await lifeboat(['restore', '--app', 'notes', '--at', between, '--env', 'staging']);
    assert.match(restored.stdout, /2 of 2 sources verified/);
    assert.match(restored.stdout, /ok count documentsTotal: 30/);
    assert.equal(await items.countDocuments({}), 30);
    assert.deepEqual(await readdir(join(dir, 'staging-files')), ['a.txt']);

    // The newer point by id.
    await lifeboat([
      'restore',
      '--app',
      'notes',
      '--point',
      points[1].id,
      '--env',
      'staging',
      '--only',
      'docs',
    ]);
    assert.equal(await items.countDocuments({}), 40);
  } finally {
    await client
      ?.db(db)
      .dropDatabase()
      .catch(() => {});
    await client?.close().catch(() => {});
    mongod?.kill();
    await cleanup();
  }
});
