/**
 * The files engine through the shared source contract (testing/source-contract).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSourceContract } from '../../testing/source-contract.js';

/** Every path under `dir`, with a digest of each file's content, sorted. */
async function folderDigest(dir: string): Promise<string> {
  if (!existsSync(dir)) return 'missing';
  const lines: string[] = [];
  const walk = async (at: string, rel: string) => {
    for (const e of (await readdir(at, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(at, e.name);
      if (e.isDirectory()) {
        lines.push(`${rel}${e.name}/`);
        await walk(path, `${rel}${e.name}/`);
      } else
        lines.push(
          `${rel}${e.name} ${createHash('sha256')
            .update(await readFile(path))
            .digest('hex')}`,
        );
    }
  };
  await walk(dir, '');
  return lines.join('\n');
}

runSourceContract('files', async (defer) => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-files-contract-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  await mkdir(join(data, 'docs', 'deep'), { recursive: true });
  await mkdir(join(data, 'media'));
  await writeFile(join(data, 'top.txt'), 'top\n');
  await writeFile(join(data, 'docs', 'a.md'), '# a\n');
  await writeFile(join(data, 'docs', 'deep', 'b.bin'), Buffer.alloc(70_000, 7));
  await writeFile(join(data, 'media', 'c.dat'), 'c'.repeat(5000));
  let n = 0;
  return {
    config: { type: 'files', path: data },
    target: async () => join(dir, `restored-${n++}`),
    digest: (target) => folderDigest(target ?? data),
    scopes: {
      include: {
        options: { include: ['docs'] },
        check: async (to) => {
          assert.deepEqual(await readdir(to), ['docs']);
          assert.equal(await folderDigest(join(to, 'docs')), await folderDigest(join(data, 'docs')));
        },
      },
    },
    dumpPath: 'docs/a.md',
    checkDump: async (file) => assert.equal(await readFile(file, 'utf8'), '# a\n'),
  };
});
