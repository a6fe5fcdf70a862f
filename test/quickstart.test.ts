// The README's first command must work: run the quickstart in a scratch folder.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/cli.js';

const script = fileURLToPath(new URL('../../scripts/quickstart.js', import.meta.url));

test('the quickstart backs up, verifies and restores the sample, and shows it equal', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-quickstart-');
  try {
    const env = { ...process.env };
    delete env.LIFEBOAT_REPO;
    delete env.LIFEBOAT_CONFIG;
    const r = spawnSync(process.execPath, [script], { cwd: dir, env, encoding: 'utf8' });
    assert.equal(r.status, 0, `quickstart failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\$ lifeboat check --read-data\nno errors: 2 snapshots/);
    assert.match(r.stdout, /uploads: original and restored trees are equal/);
    assert.match(r.stdout, /app-db: original and restored tables are equal/);
    assert.doesNotMatch(r.stdout + r.stderr, /quickstart-password/);
  } finally {
    await cleanup();
  }
});
