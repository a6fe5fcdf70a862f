import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { test } from 'node:test';
import { compareTrees } from './tree-compare.js';

test('reports content, mode, mtime, link and hard-link differences', async () => {
  const work = await fs.mkdtemp(nodePath.join(os.tmpdir(), 'lifeboat-compare-'));
  try {
    const a = nodePath.join(work, 'a');
    const b = nodePath.join(work, 'b');
    for (const dir of [a, b]) {
      await fs.mkdir(dir);
      await fs.writeFile(nodePath.join(dir, 'same'), 'same');
      await fs.utimes(nodePath.join(dir, 'same'), 1000, 1000);
      await fs.writeFile(nodePath.join(dir, 'h1'), 'h');
      await fs.utimes(nodePath.join(dir, 'h1'), 1000, 1000);
    }
    assert.deepEqual(await compareTrees(a, b), []);
    await fs.writeFile(nodePath.join(a, 'x'), 'one');
    await fs.writeFile(nodePath.join(b, 'x'), 'two');
    await fs.chmod(nodePath.join(b, 'same'), 0o600);
    await fs.utimes(nodePath.join(b, 'same'), 1000, 2000);
    await fs.symlink('t1', nodePath.join(a, 'l'));
    await fs.symlink('t2', nodePath.join(b, 'l'));
    await fs.link(nodePath.join(a, 'h1'), nodePath.join(a, 'h2'));
    await fs.writeFile(nodePath.join(b, 'h2'), 'h');
    await fs.writeFile(nodePath.join(a, 'only-a'), '');
    const diffs = await compareTrees(a, b);
    const has = (re: RegExp) =>
      assert.ok(
        diffs.some((d) => re.test(d)),
        `${re} in ${diffs.join('; ')}`,
      );
    has(/^x: content differs$/);
    has(/^same: mode 644 != 600$/);
    has(/^same: mtime/);
    has(/^l: link target t1 != t2$/);
    has(/^hard links h1, h2/);
    has(/^only-a: only in first tree$/);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
});
