/**
 * Leases (src/repo/lease.ts) on each storage with conditional writes: a live lease keeps a
 * second taker out with a message naming its holder; once expired it is taken over, the old
 * holder learns it lost it on its next renewal; of several takers of an expired lease one
 * wins; a released lease is free at once. S3 runs with conditional_writes on, through a
 * front that enforces If-None-Match / If-Match as AWS does (test/helpers/s3-conditions.ts):
 * s3rver, the S3 server the tests run, ignores both headers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestClock } from '../../src/clock.js';
import { LEASE_TERM_MS } from '../../src/repo/lease.js';
import { Repository } from '../../src/repo/repository.js';
import { AzureBackend } from '../../src/storage/azure/azure-backend.js';
import type { Backend } from '../../src/storage/backend.js';
import { createLocalBackend } from '../../src/storage/local/local-backend.js';
import { S3Backend } from '../../src/storage/s3/s3-backend.js';
import { type AzuriteServer, azuriteMissing, startAzurite } from '../../src/testing/servers/azurite.js';
import {
  S3RVER_CREDENTIALS,
  type S3rverServer,
  s3rverMissing,
  startS3rver,
} from '../../src/testing/servers/s3rver.js';
import { type ConditionalFront, startConditionalFront } from '../helpers/s3-conditions.js';

const PASSWORD = 'lease-password';
const KDF = { N: 1024, r: 8, p: 1 };

function leaseCases(
  name: string,
  make: () => Promise<{ backend: () => Backend; done(): Promise<void> }>,
  skip?: string,
) {
  if (skip) console.log(`SKIPPED leases on ${name}: ${skip}`);
  describe(`leases on ${name}`, skip ? { skip } : {}, () => {
    test('held, refused, expired, taken over, lost, released', async () => {
      const where = await make();
      const clock = new TestClock('2026-05-01T00:00:00Z');
      const first = await Repository.init(where.backend(), PASSWORD, { clock, kdf: KDF });
      const opened = () => Repository.open(where.backend(), PASSWORD, { clock, kdf: KDF });
      try {
        const a = await first.lease('prune', 'prune');
        assert.ok(a, 'the storage supports leases');
        const other = await opened();
        await assert.rejects(other.lease('prune', 'prune'), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'locked');
          assert.match(err.message, /the prune lease is held by prune pid \d+ on host/);
          return true;
        });
        // Renewed in time, it stays held.
        clock.tick(LEASE_TERM_MS - 60_000);
        await a.renew();
        clock.tick(LEASE_TERM_MS - 60_000);
        await assert.rejects(other.lease('prune', 'prune'), { code: 'locked' });
        // Its holder stops renewing (dead): past the term it is taken over.
        clock.tick(LEASE_TERM_MS + 60_000);
        const b = await other.lease('prune', 'prune');
        assert.ok(b);
        await assert.rejects(a.renew(), { code: 'locked' });
        await a.release(); // a lost lease's release leaves the successor's alone
        await assert.rejects(first.lease('prune', 'prune'), { code: 'locked' });
        // Several takers of an expired lease: one wins.
        clock.tick(LEASE_TERM_MS + 60_000);
        const takers = await Promise.all([0, 1, 2, 3].map(() => opened()));
        const got = await Promise.allSettled(takers.map((r) => r.lease('prune', 'prune')));
        const won = got.filter((g) => g.status === 'fulfilled');
        assert.equal(won.length, 1, JSON.stringify(got.map((g) => g.status)));
        for (const g of got) if (g.status === 'rejected') assert.equal(g.reason.code, 'locked');
        await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<Repository['lease']>>>).value!.release();
        // Released: free at once, without waiting for the term.
        const c = await first.lease('prune', 'prune');
        await c!.release();
        // Leases are not locks: `unlock` and lock listings do not see them.
        assert.deepEqual(await first.listLocks(), []);
        await b.release();
        for (const r of [other, ...takers]) await r.close();
      } finally {
        await first.close();
        await where.done();
      }
    });
  });
}

leaseCases('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-lease-'));
  return {
    backend: () => createLocalBackend(join(dir, 'repo')),
    done: () => rm(dir, { recursive: true, force: true }),
  };
});

const azureSkip = azuriteMissing();
const s3Skip = s3rverMissing();
let azurite: AzuriteServer | undefined;
let s3: S3rverServer | undefined;
let front: ConditionalFront | undefined;
let container = 0;
before(async () => {
  if (!azureSkip) azurite = await startAzurite();
  if (!s3Skip) {
    s3 = await startS3rver();
    front = await startConditionalFront(s3);
  }
});
after(async () => {
  await azurite?.close();
  await front?.close();
  await s3?.close();
});

leaseCases(
  'azure (azurite)',
  async () => {
    const url = `azure://lease${process.pid}x${++container}/repo`;
    return {
      backend: () => new AzureBackend(url, { settings: { connection_string: azurite!.connectionString } }),
      done: async () => {},
    };
  },
  azureSkip,
);

leaseCases(
  's3 with conditional_writes (s3rver behind a conditional-write front)',
  async () => {
    const url = `s3://lease-${process.pid}-${++container}/repo`;
    const settings = {
      endpoint: front!.endpoint,
      region: 'us-east-1',
      path_style: true,
      conditional_writes: true,
      ...S3RVER_CREDENTIALS,
    };
    return { backend: () => new S3Backend(url, { settings, env: {} }), done: async () => {} };
  },
  s3Skip,
);
