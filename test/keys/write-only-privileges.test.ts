// A write-only host could put a setuid-root program or a device node in a snapshot: restoring
// it must not plant them. Such snapshots restore without privileges; others on request.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { lifeboat, repoEnv, tempDir } from '../helpers/cli.js';

const run = promisify(execFile);
const root = process.getuid?.() === 0;

async function restored(dir: string) {
  const tool = await lstat(join(dir, 'tool'));
  const shared = await lstat(join(dir, 'shared'));
  const dev = await lstat(join(dir, 'null')).catch(() => undefined);
  return {
    tool: tool.mode & 0o7777,
    shared: shared.mode & 0o7777,
    device: dev?.isCharacterDevice() ?? false,
  };
}

test('restores of a write-only snapshot, or with --no-privileges, drop setuid/setgid and refuse devices', {
  skip: root ? false : 'creating a device node needs root',
}, async () => {
  const { dir, cleanup } = await tempDir('lifeboat-privileges-');
  try {
    const repo = join(dir, 'repo');
    const full = repoEnv(repo);
    const wo = repoEnv(repo, { LIFEBOAT_PASSWORD: 'wo-password' });
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'tool'), '#!/bin/sh\n');
    await chmod(join(src, 'tool'), 0o4755);
    await mkdir(join(src, 'shared'));
    await chmod(join(src, 'shared'), 0o2775);
    await run('mknod', ['-m', '666', join(src, 'null'), 'c', '1', '3']);
    await lifeboat(['init'], full);
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], full);
    const byFull = (await lifeboat(['snapshots', '--json'], full)).stdout;
    const fullId = JSON.parse(byFull)[0].id;

    // A full key's snapshot: unchanged by default; --no-privileges drops both.
    await lifeboat(['restore', fullId, '--to', join(dir, 'a')], full);
    assert.deepEqual(await restored(join(dir, 'a')), { tool: 0o4755, shared: 0o2775, device: true });
    const b = await lifeboat(['restore', fullId, '--no-privileges', '--to', join(dir, 'b')], full);
    assert.deepEqual(await restored(join(dir, 'b')), { tool: 0o755, shared: 0o775, device: false });
    assert.match(b.stdout, /null: device node, refused/);
    assert.match(b.stdout, /tool: setuid\/setgid bits dropped/);
    await lifeboat(['restore', fullId, '--no-privileges', '--devices', '--to', join(dir, 'c')], full);
    assert.deepEqual(await restored(join(dir, 'c')), { tool: 0o755, shared: 0o775, device: true });

    // A write-only key's snapshot: without privileges whatever is asked, devices on request.
    await lifeboat(['key', 'add', '--write-only'], { ...full, LIFEBOAT_NEW_PASSWORD: 'wo-password' });
    await writeFile(join(src, 'more.txt'), 'day two\n');
    await lifeboat(['backup', '--type', 'files', '--name', 'app', '--path', src], wo);
    const list = JSON.parse((await lifeboat(['snapshots', '--json'], full)).stdout);
    const woId = list.find((s: { id: string }) => s.id !== fullId).id;
    const d = await lifeboat(['restore', woId, '--to', join(dir, 'd')], full);
    assert.deepEqual(await restored(join(dir, 'd')), { tool: 0o755, shared: 0o775, device: false });
    assert.match(d.stdout, /null: device node, refused/);
    await lifeboat(['restore', woId, '--devices', '--to', join(dir, 'e')], full);
    assert.deepEqual(await restored(join(dir, 'e')), { tool: 0o755, shared: 0o775, device: true });
  } finally {
    await cleanup();
  }
});
