/**
 * @module repo/seal-pool.test
 * A worker started ahead of use (SealPool.warm) and never given a task does not keep the
 * process alive: a backup that stores nothing new (an unchanged tree) must still exit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

test('an idle warmed seal worker does not keep the process alive', () => {
  const pool = new URL('./seal-pool.js', import.meta.url).href;
  const script = `
    const { SealPool } = await import(${JSON.stringify(pool)});
    const p = new SealPool({ epoch: 0, key: Buffer.alloc(32) }, 3, 1);
    p.warm();
    setTimeout(() => console.log('idle'), 300);
  `;
  // A module file: run with -e, the same script exited even when the worker held it.
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-seal-pool-'));
  const file = join(dir, 'warm.mjs');
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.error, undefined, 'the process did not exit within 20 s');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /idle/);
});
