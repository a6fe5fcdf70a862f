import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { withHooks } from './hooks.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lifeboat-hooks-'));
  dirs.push(d);
  return d;
}

test('hooks run around the job with its context, after_* learns the outcome', async () => {
  const d = await dir();
  const log = join(d, 'log');
  const hooks = {
    before_backup: `echo "before $LIFEBOAT_JOB $LIFEBOAT_SOURCE $LIFEBOAT_SOURCE_TYPE" >> ${log}`,
    after_backup: `echo "after $LIFEBOAT_STATUS $LIFEBOAT_SNAPSHOT pw=$LIFEBOAT_PASSWORD" >> ${log}`,
  };
  process.env.LIFEBOAT_PASSWORD = 'must-not-leak';
  const r = await withHooks(
    hooks,
    'backup',
    { source: 'app', type: 'files' },
    async () => 42,
    () => ({ snapshot: 'abc' }),
  );
  assert.equal(r, 42);
  assert.equal(await readFile(log, 'utf8'), 'before backup app files\nafter success abc pw=\n');
});

test('a failing before_* aborts the job with its output; after_* still runs', async () => {
  const d = await dir();
  const log = join(d, 'log');
  let ran = false;
  await assert.rejects(
    withHooks(
      {
        before_restore: 'echo maintenance mode unavailable >&2; exit 3',
        after_restore: `echo "after $LIFEBOAT_STATUS" >> ${log}`,
      },
      'restore',
      { source: 'app', type: 'files' },
      async () => {
        ran = true;
      },
    ),
    /before_restore hook of source "app" exited with code 3; output: maintenance mode unavailable/,
  );
  assert.equal(ran, false);
  // after_* always runs (docs/cli.md, "Hooks"), told that the job failed.
  assert.equal(await readFile(log, 'utf8'), 'after failure\n');
});

test('a failing job still runs after_* with status failure and keeps its own error', async () => {
  const d = await dir();
  const log = join(d, 'log');
  await assert.rejects(
    withHooks(
      { after_backup: `echo "after $LIFEBOAT_STATUS: $LIFEBOAT_ERROR" >> ${log}` },
      'backup',
      { source: 's', type: 'files' },
      async () => {
        throw new Error('disk on fire');
      },
    ),
    /disk on fire/,
  );
  assert.equal(await readFile(log, 'utf8'), 'after failure: disk on fire\n');
});

test('a hook that outlives its timeout is killed and reported', async () => {
  const started = Date.now();
  await assert.rejects(
    withHooks(
      { before_backup: 'sleep 30', timeout: '1s' },
      'backup',
      { source: 's', type: 'files' },
      async () => {},
    ),
    /timed out after 1s/,
  );
  assert.ok(Date.now() - started < 10_000);
});
