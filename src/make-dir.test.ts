import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeDir } from './make-dir.js';

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lb-make-dir-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('makeDir creates every missing level with the mode, and accepts an existing folder', async () => {
  const dir = await scratch();
  const deep = join(dir, 'a', 'b', 'c');
  await makeDir(deep, 0o700);
  assert.ok((await stat(deep)).isDirectory());
  assert.equal((await stat(join(dir, 'a'))).mode & 0o777, 0o700);
  await makeDir(deep);
  await makeDir(`${dir}/a/./b/../b/c/`);
});

test('makeDir fails where a parent cannot hold folders instead of spinning like mkdir -p in Node', async () => {
  const dir = await scratch();
  await writeFile(join(dir, 'file'), '');
  await assert.rejects(makeDir(join(dir, 'file')), { code: 'EEXIST' });
  await assert.rejects(makeDir(join(dir, 'file', 'sub')), { code: 'ENOTDIR' });
  await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
  await assert.rejects(makeDir(join(dir, 'dangling', 'sub', 'deeper')), { code: 'ENOENT' });
  // procfs answers ENOENT to mkdir of a new child (Node's recursive mkdir never returns).
  if (existsSync('/proc/self')) await assert.rejects(makeDir('/proc/lifeboat-test/sub'), { code: 'ENOENT' });
});
