// What check finds that restore would meet too late: a tree whose names aim outside the
// target (written through the repository module with a write-only key, as a hostile host
// could), and partial packs a killed save left behind.
import assert from 'node:assert/strict';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Repository } from '../../src/repo/repository.js';
import { createLocalBackend } from '../../src/storage/local/local-backend.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';

test('check reports leftover partial packs (prune removes them) and trees with hostile names', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-hostile-tree-');
  try {
    const repo = join(dir, 'repo');
    const full = repoEnv(repo);
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'hello\n');
    await lifeboat(['init'], full);
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], full);

    // A partial pack of a save killed two hours ago: a warning, removed by prune.
    const sub = join(repo, 'data', (await readdir(join(repo, 'data')))[0]);
    const partial = join(sub, '.tmp-4f2a9c');
    await writeFile(partial, Buffer.alloc(1000, 7));
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(partial, old, old);
    const warned = await runCli(['check', '--json'], full);
    assert.equal(warned.code, 0, warned.stdout + warned.stderr);
    const report = JSON.parse(warned.stdout);
    assert.ok(
      report.warnings.some((w: string) => /\.tmp-4f2a9c \(1000 bytes\) is an unfinished write/.test(w)),
      warned.stdout,
    );
    await lifeboat(['prune'], full);
    assert.deepEqual(
      (await readdir(sub)).filter((n) => n.startsWith('.tmp-')),
      [],
    );
    const clean = JSON.parse((await lifeboat(['check', '--json'], full)).stdout);
    assert.deepEqual(clean.warnings, []);

    // A write-only host stores trees whose names climb out of the target.
    await lifeboat(['key', 'add', '--write-only'], { ...full, LIFEBOAT_NEW_PASSWORD: 'wo-password' });
    const wo = await Repository.open(createLocalBackend(repo), 'wo-password');
    await wo.loadIndex();
    const data = (await wo.saveBlob('data', Buffer.from('* * * * * root sh -c evil\n'))).id.toString('hex');
    const file = (name: string) => ({ name, type: 'file', mode: 0o644, size: 26, content: [data] });
    const inner = (
      await wo.saveBlob('tree', Buffer.from(JSON.stringify({ nodes: [file('etc/cron.d/x'), file('a\0b')] })))
    ).id.toString('hex');
    const root = (
      await wo.saveBlob(
        'tree',
        Buffer.from(JSON.stringify({ nodes: [{ name: '..', type: 'dir', mode: 0o755, subtree: inner }] })),
      )
    ).id.toString('hex');
    await wo.flush();
    const snap = await wo.saveSnapshot({
      version: 1,
      time: new Date().toISOString(),
      source: 'app',
      engine: 'files',
      kind: 'files',
      host: 'db1',
      username: 'backup',
      tags: [],
      programVersion: 'test',
      root,
      stats: { files: 2, dirs: 1, bytes: 52 },
      meta: {},
      sourceConfig: { type: 'files', path: src },
    });
    await wo.close();

    const found = await runCli(['check'], full);
    assert.notEqual(found.code, 0);
    const out = found.stdout + found.stderr;
    assert.match(out, new RegExp(`snapshot ${snap.slice(0, 8)}: /: invalid name "\\.\\."`));
    assert.match(out, new RegExp(`snapshot ${snap.slice(0, 8)}: \\.\\.: invalid name "etc/cron.d/x"`));
    assert.match(out, new RegExp(`snapshot ${snap.slice(0, 8)}: \\.\\.: invalid name "a\\\\u0000b"`));
    // Restore refuses it too, and writes nothing outside the target.
    const r = await runCli(['restore', snap, '--to', join(dir, 'out', 'in')], full);
    assert.notEqual(r.code, 0);
    assert.deepEqual(await readdir(dir).then((n) => n.includes('etc')), false);
  } finally {
    await cleanup();
  }
});
