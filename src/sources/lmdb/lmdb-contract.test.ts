/**
 * The lmdb engine through the shared source contract (testing/source-contract): an
 * environment with named databases, restored whole into new folders.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { runSourceContract } from '../../testing/source-contract.js';

/** Every entry of the named databases, as one digest; "missing" without an environment. */
async function entries(path: string): Promise<string> {
  if (!existsSync(join(path, 'data.mdb'))) return 'missing';
  const env = open({ path, maxDbs: 10, readOnly: true });
  try {
    const hash = createHash('sha256');
    for (const name of ['accounts', 'ledger']) {
      const db = env.openDB({ name });
      for (const { key, value } of db.getRange())
        hash.update(`${name} ${String(key)} ${JSON.stringify(value)}\n`);
    }
    return hash.digest('hex');
  } finally {
    await env.close();
  }
}

runSourceContract('lmdb', async (defer) => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-lmdb-contract-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const live = join(dir, 'live');
  const env = open({ path: live, maxDbs: 10 });
  const accounts = env.openDB({ name: 'accounts' });
  const ledger = env.openDB({ name: 'ledger' });
  await env.transaction(() => {
    for (let i = 0; i < 500; i++) {
      accounts.put(`acct:${i}`, { balance: i * 7 });
      ledger.put(`entry:${i}`, { account: `acct:${i}`, amount: i });
    }
  });
  await env.close();
  let n = 0;
  return {
    config: { type: 'lmdb', path: live },
    target: async () => join(dir, `restored-${n++}`),
    digest: (target) => entries(target ?? live),
    scopes: {},
  };
});
