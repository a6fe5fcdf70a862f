/**
 * @module test/lmdb/lmdb-cli
 * The LMDB engine through the real CLI: a backup taken while a writer process keeps writing
 * restores to a consistent environment (two databases written in one transaction agree, and
 * the counts match the snapshot's); environments of LMDB 0.9's format (mdb_copy from
 * lmdb-utils) round-trip byte for byte in content; a non-empty target is refused.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';

const WRITER = fileURLToPath(new URL('./lmdb-writer.js', import.meta.url));

const lmdbUtils = spawnSync('mdb_copy', ['-V'], { encoding: 'utf8' });
const noUtils = lmdbUtils.error ? 'mdb_copy is not installed (apt-get install lmdb-utils)' : null;

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

describe('lmdb engine through the CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  let writer: ChildProcess | undefined;

  async function succeed(args: string[]): Promise<CliResult> {
    const r = await runCli(args, env, { cwd: dir });
    assert.equal(r.code, 0, show(args, r));
    return r;
  }
  async function latest(
    source: string,
  ): Promise<{ stats: Record<string, unknown>; meta: Record<string, unknown> }> {
    return JSON.parse((await succeed(['snapshots', '--json', '--source', source])).stdout)[0];
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-lmdb-cli-'));
    env = repoEnv(join(dir, 'repo'));
    await succeed(['init']);
  });
  after(async () => {
    if (writer && writer.exitCode === null) writer.kill('SIGKILL');
    await cleanup?.();
  });

  it('takes a consistent copy while a writer is active, and restores it checked', async () => {
    const live = join(dir, 'live');
    writer = spawn(process.execPath, [WRITER, live], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(writer.stdout!, 'data')) as [Buffer];
    assert.equal(line.toString().trim(), 'ready');

    await succeed(['backup', '--type', 'lmdb', '--name', 'kv', '--path', live]);
    assert.equal(writer.exitCode, null, 'the writer was still writing when the backup ended');
    writer.kill('SIGTERM');
    await once(writer, 'exit');

    const snap = await latest('kv');
    const entries = snap.stats.entries as Record<string, number>;
    assert.equal(snap.meta.format, 2);
    assert.ok(entries.accounts >= 4000, `accounts: ${entries.accounts}`);
    assert.equal(entries.accounts, entries.ledger, 'both databases of one transaction agree');
    assert.equal(entries.meta, 1);
    assert.equal(entries['(main)'], 0);

    const restored = join(dir, 'restored');
    const r = await succeed(['restore', 'latest', '--to', restored]);
    assert.match(
      r.stdout,
      new RegExp(
        `restored snapshot [0-9a-f]{8} \\(kv\\) to ${restored}: ${entries.accounts * 2 + 1} entries`,
      ),
    );

    const db = open({ path: restored, readOnly: true, maxDbs: 10 });
    try {
      const accounts = db.openDB({ name: 'accounts' });
      const ledger = db.openDB({ name: 'ledger' });
      const count = db.openDB({ name: 'meta' }).get('count') as number;
      const stats = (d: { getStats(): unknown }) => (d.getStats() as { entryCount: number }).entryCount;
      assert.equal(stats(accounts), entries.accounts);
      assert.equal(stats(ledger), entries.ledger);
      assert.equal(count, entries.accounts, 'the count written in the same transactions agrees');
      assert.deepEqual(accounts.get(`acct:${count - 1}`), {
        balance: (count - 1) * 7,
        owner: `owner-${(count - 1) % 97}`,
      });
      assert.deepEqual(ledger.get(`entry:${count - 1}`), { account: `acct:${count - 1}`, amount: count - 1 });
      assert.equal(accounts.get(`acct:${count}`), undefined, 'nothing after the snapshot');
    } finally {
      await db.close();
    }
    // The live environment went on after the snapshot.
    const after = open({ path: live, readOnly: true, maxDbs: 10 });
    try {
      assert.ok((after.openDB({ name: 'meta' }).get('count') as number) > entries.accounts);
    } finally {
      await after.close();
    }

    const again = await runCli(['restore', 'latest', '--to', restored], env, { cwd: dir });
    assert.equal(again.code, 1, show(['restore'], again));
    assert.match(again.stderr, /already holds an LMDB environment \(stop its writers and pass --overwrite/);
    await succeed(['restore', 'latest', '--to', restored, '--overwrite']);
  });

  it('backs up environments in the LMDB 0.9 format with mdb_copy', { skip: noUtils ?? false }, async () => {
    const v1 = join(dir, 'v1');
    await mkdir(v1);
    const lines = ['VERSION=3', 'format=print', 'type=btree', 'HEADER=END'];
    const input = (n: number, prefix: string) => {
      const out = [...lines];
      for (let i = 0; i < n; i++)
        out.push(` ${prefix}${String(i).padStart(6, '0')}`, ` value ${i} of ${prefix}`);
      out.push('DATA=END');
      return `${out.join('\n')}\n`;
    };
    for (const [name, n] of [
      ['users', 3000],
      ['orders', 1200],
    ] as const) {
      const file = join(dir, `${name}.txt`);
      await writeFile(file, input(n, name));
      const load = spawnSync('mdb_load', ['-f', file, '-s', name, v1], { encoding: 'utf8' });
      assert.equal(load.status, 0, load.stderr);
    }
    await succeed(['backup', '--type', 'lmdb', '--name', 'old', '--path', v1]);
    const snap = await latest('old');
    assert.equal(snap.meta.format, 1);
    assert.deepEqual(snap.stats.entries, { '(main)': 0, users: 3000, orders: 1200 });
    const restored = join(dir, 'v1-restored');
    await succeed(['restore', 'latest', '--source', 'old', '--to', restored]);
    const dump = (p: string) => spawnSync('mdb_dump', ['-a', '-p', p], { encoding: 'utf8' }).stdout;
    assert.ok(dump(v1).includes('orders001199'));
    assert.equal(dump(restored), dump(v1));
  });
  if (noUtils) console.log(`SKIPPED lmdb 0.9-format test: ${noUtils}`);

  it('says clearly when the path is not an environment', async () => {
    const args = ['backup', '--type', 'lmdb', '--name', 'nothing', '--path', join(dir, 'missing')];
    const r = await runCli(args, env, { cwd: dir });
    assert.equal(r.code, 1, show(args, r));
    assert.match(r.stderr, /cannot read .*data\.mdb.*path must be the folder of an LMDB environment/);
  });
});
