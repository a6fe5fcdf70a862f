/**
 * The command engine through the shared source contract (testing/source-contract).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSourceContract } from '../../testing/source-contract.js';

const sha = async (file: string) =>
  existsSync(file)
    ? createHash('sha256')
        .update(await readFile(file))
        .digest('hex')
    : 'missing';

runSourceContract('command', async (defer) => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-command-contract-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const data = join(dir, 'data.txt');
  await writeFile(data, Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join(''));
  let n = 0;
  return {
    config: { type: 'command', command: `cat '${data}'` },
    target: async () => join(dir, `restored-${n++}.out`),
    digest: (target) => sha(target ?? data),
    scopes: {},
    checkDump: async (file) => assert.equal(await sha(file), await sha(data)),
  };
});
