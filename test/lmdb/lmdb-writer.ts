/**
 * @module test/lmdb/lmdb-writer
 * A writer for the LMDB suite, run as a child process: it writes to two named databases in
 * one transaction at a time (an account and its ledger entry, and the count in a third), so
 * any consistent copy has as many accounts as ledger entries, and as the count says.
 * Usage: node lmdb-writer.js ENV_DIR [ENTRIES]; prints "ready" once it has written a few.
 */
import { open } from 'lmdb';

const [path, limitArg] = process.argv.slice(2);
const limit = Number(limitArg ?? 5_000_000);
const env = open({ path, maxDbs: 10 });
const accounts = env.openDB({ name: 'accounts' });
const ledger = env.openDB({ name: 'ledger' });
const meta = env.openDB({ name: 'meta' });
let count: number = meta.get('count') ?? 0;
let announced = false;
while (count < limit) {
  env.transactionSync(() => {
    for (let k = 0; k < 20; k++) {
      accounts.put(`acct:${count}`, { balance: count * 7, owner: `owner-${count % 97}` });
      ledger.put(`entry:${count}`, { account: `acct:${count}`, amount: count });
      count++;
    }
    meta.put('count', count);
  });
  if (!announced && count >= 4000) {
    process.stdout.write('ready\n');
    announced = true;
  }
}
await env.close();
