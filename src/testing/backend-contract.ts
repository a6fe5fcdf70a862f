/**
 * @module testing/backend-contract
 * The tests every storage backend must pass, registered with node:test. Each backend's test
 * file calls runBackendContract() with a factory for a fresh, empty location; nothing here
 * knows which backend it is given.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Backend, FileHandle, FileInfo, FileType } from '../storage/backend.js';
import { FILE_TYPES } from '../storage/backend.js';

export interface BackendUnderTest {
  backend: Backend;
  /** Removes whatever the factory made (folders, buckets). */
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Skip the whole suite for this reason (printed), e.g. a server binary is missing. */
  skip?: string;
}

const MiB = 1024 * 1024;

function newName(): string {
  return randomBytes(32).toString('hex');
}

function handle(type: FileType, name = newName()): FileHandle {
  return { type, name: type === 'config' ? 'config' : name };
}

/** Names and sizes listed (the optional stored time is checked on its own). */
async function listAll(backend: Backend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const f of backend.list(type)) out.push({ name: f.name, size: f.size });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** How far a storage's clock may differ from this host's in the stored-time check. */
const CLOCK_SKEW_MS = 2 * 60 * 1000;

async function names(backend: Backend, type: FileType): Promise<string[]> {
  return (await listAll(backend, type)).map((f) => f.name);
}

const notFound = { name: 'LifeboatError', code: 'not_found' };

export function runBackendContract(
  name: string,
  factory: () => Promise<BackendUnderTest>,
  options: ContractOptions = {},
): void {
  const title = `backend contract: ${name}`;
  if (options.skip) {
    console.log(`SKIPPED ${title}: ${options.skip}`);
    describe(title, { skip: options.skip }, () => {});
    return;
  }

  /** A fresh backend; `prepared` runs create() first, as every test but the first needs. */
  async function withBackend(fn: (b: Backend) => Promise<void>, prepared = true): Promise<void> {
    const { backend, cleanup } = await factory();
    try {
      if (prepared) await backend.create();
      await fn(backend);
    } finally {
      await backend.close();
      await cleanup();
    }
  }

  describe(title, () => {
    test('create on an empty location; again before a config exists; repo_exists after', () =>
      withBackend(async (b) => {
        await b.create();
        await b.create();
        await b.save(handle('config'), Buffer.from('config v1'));
        await assert.rejects(b.create(), { name: 'LifeboatError', code: 'repo_exists' });
        assert.deepEqual(await b.load(handle('config')), Buffer.from('config v1'));
      }, false));

    test('location is a non-empty string', () =>
      withBackend(async (b) => {
        assert.equal(typeof b.location, 'string');
        assert.ok(b.location.length > 0);
      }));

    test('save, load and stat round trip for every type', () =>
      withBackend(async (b) => {
        for (const type of FILE_TYPES) {
          const h = handle(type);
          const data = randomBytes(1000 + type.length);
          await b.save(h, data);
          assert.deepEqual(await b.load(h), data, type);
          assert.deepEqual(await b.stat(h), { name: h.name, size: data.length }, type);
        }
      }));

    test('empty objects round trip', () =>
      withBackend(async (b) => {
        const h = handle('lock');
        await b.save(h, Buffer.alloc(0));
        assert.equal((await b.load(h)).length, 0);
        assert.equal((await b.stat(h)).size, 0);
      }));

    test('ranged loads, including an empty range at the end', () =>
      withBackend(async (b) => {
        const h = handle('pack');
        const data = randomBytes(4096);
        await b.save(h, data);
        assert.deepEqual(await b.load(h, 0, 4096), data);
        assert.deepEqual(await b.load(h, 100, 200), data.subarray(100, 300));
        assert.deepEqual(await b.load(h, 4095, 1), data.subarray(4095));
        assert.deepEqual(await b.load(h, 4096, 0), Buffer.alloc(0));
        assert.deepEqual(await b.load(h, 0, 0), Buffer.alloc(0));
      }));

    test('ranged loads past the end fail instead of returning short data', () =>
      withBackend(async (b) => {
        const h = handle('pack');
        await b.save(h, randomBytes(4096));
        const isError = { name: 'LifeboatError' };
        await assert.rejects(b.load(h, 4096, 1), isError);
        await assert.rejects(b.load(h, 4000, 200), isError);
        await assert.rejects(b.load(h, 5000, 0), isError);
        await assert.rejects(b.load(h, 0, 4097), isError);
      }));

    test('a negative or fractional offset or length is refused as a caller bug (internal)', () =>
      withBackend(async (b) => {
        const h = handle('pack');
        await b.save(h, randomBytes(16));
        const internal = { code: 'internal' };
        await assert.rejects(b.load(h, -1, 4), internal);
        await assert.rejects(b.load(h, 0, -4), internal);
        await assert.rejects(b.load(h, 1.5, 4), internal);
      }));

    test('load and stat of a missing object fail with not_found, for every type', () =>
      withBackend(async (b) => {
        for (const type of FILE_TYPES) {
          const h = handle(type);
          await assert.rejects(b.load(h), notFound, type);
          await assert.rejects(b.load(h, 0, 1), notFound, type);
          await assert.rejects(b.stat(h), notFound, type);
        }
      }));

    test('remove is idempotent', () =>
      withBackend(async (b) => {
        const h = handle('snapshot');
        await b.remove(h);
        await b.save(h, Buffer.from('x'));
        await b.remove(h);
        await b.remove(h);
        await assert.rejects(b.stat(h), notFound);
        await assert.rejects(b.load(h), notFound);
      }));

    test('list of a fresh repository is empty for every type', () =>
      withBackend(async (b) => {
        for (const type of FILE_TYPES) assert.deepEqual(await listAll(b, type), [], type);
      }));

    test('list is complete, with sizes, and leaves out removed objects', () =>
      withBackend(async (b) => {
        for (const type of ['key', 'index', 'pack'] as const) {
          const saved = Array.from({ length: 10 }, (_, i) => ({ h: handle(type), size: 100 + i }));
          for (const s of saved) await b.save(s.h, randomBytes(s.size));
          for (const s of saved.slice(0, 3)) await b.remove(s.h);
          const expected = saved
            .slice(3)
            .map((s) => ({ name: s.h.name, size: s.size }))
            .sort((x, y) => x.name.localeCompare(y.name));
          assert.deepEqual(await listAll(b, type), expected, type);
        }
      }));

    test('list gives every object its stored time by the storage clock, or none at all', () =>
      withBackend(async (b) => {
        const before = Date.now();
        const saved = [handle('snapshot'), handle('snapshot'), handle('pack')];
        for (const h of saved) await b.save(h, randomBytes(100));
        const after = Date.now();
        const listed: FileInfo[] = [];
        for (const type of ['snapshot', 'pack'] as const) for await (const f of b.list(type)) listed.push(f);
        assert.equal(listed.length, saved.length);
        const times = listed.map((f) => f.modified).filter((t) => t !== undefined);
        if (times.length === 0) {
          console.log(
            `NOTE ${title}: list() gives no stored time (retention falls back to the reader's clock)`,
          );
          return;
        }
        assert.equal(times.length, listed.length, 'either every entry has a stored time or none has');
        for (const t of times) {
          assert.ok(t instanceof Date && !Number.isNaN(t.getTime()), `modified is a valid Date: ${t}`);
          // Second-granular stores (SFTP) round down; a server's clock may differ a little.
          assert.ok(t.getTime() >= before - CLOCK_SKEW_MS, `${t.toISOString()} is before the save began`);
          assert.ok(t.getTime() <= after + CLOCK_SKEW_MS, `${t.toISOString()} is after the save ended`);
        }
      }));

    test('list of config names the one config object', () =>
      withBackend(async (b) => {
        await b.save(handle('config'), Buffer.from('abc'));
        assert.deepEqual(await listAll(b, 'config'), [{ name: 'config', size: 3 }]);
      }));

    test('saving a lock again replaces it', () =>
      withBackend(async (b) => {
        const h = handle('lock');
        await b.save(h, Buffer.from('first version of the lock'));
        await b.save(h, Buffer.from('second'));
        assert.deepEqual(await b.load(h), Buffer.from('second'));
        assert.deepEqual(await listAll(b, 'lock'), [{ name: h.name, size: 6 }]);
      }));

    test('a 20 MiB object round trips, with ranged reads at both ends', () =>
      withBackend(async (b) => {
        const h = handle('pack');
        const data = randomBytes(20 * MiB);
        await b.save(h, data);
        assert.equal((await b.stat(h)).size, data.length);
        assert.ok((await b.load(h)).equals(data));
        assert.ok((await b.load(h, 0, MiB)).equals(data.subarray(0, MiB)));
        assert.ok((await b.load(h, data.length - 12345, 12345)).equals(data.subarray(data.length - 12345)));
      }));

    test('200 small objects are all listed', () =>
      withBackend(async (b) => {
        const saved = Array.from({ length: 200 }, () => newName()).sort();
        for (let i = 0; i < saved.length; i += 20) {
          await Promise.all(saved.slice(i, i + 20).map((n) => b.save(handle('pack', n), Buffer.from(n))));
        }
        const listed = await listAll(b, 'pack');
        assert.deepEqual(
          listed.map((f) => f.name),
          saved,
        );
        assert.ok(listed.every((f) => f.size === 64));
      }));

    test('concurrent saves of different names all land', () =>
      withBackend(async (b) => {
        const items = Array.from({ length: 50 }, (_, i) => ({
          h: handle('index'),
          data: randomBytes(1000 + i * 97),
        }));
        await Promise.all(items.map((it) => b.save(it.h, it.data)));
        for (const it of items) assert.deepEqual(await b.load(it.h), it.data);
        assert.equal((await names(b, 'index')).length, items.length);
      }));

    test('names are not mixed across types', () =>
      withBackend(async (b) => {
        const shared = newName();
        const types = FILE_TYPES.filter((t) => t !== 'config');
        for (const type of types) await b.save(handle(type, shared), Buffer.from(`content of ${type}`));
        for (const type of types) {
          assert.deepEqual(await b.load(handle(type, shared)), Buffer.from(`content of ${type}`));
          assert.deepEqual(await names(b, type), [shared], type);
        }
        await b.remove(handle('pack', shared));
        await assert.rejects(b.stat(handle('pack', shared)), notFound);
        for (const type of types.filter((t) => t !== 'pack')) {
          assert.equal((await b.stat(handle(type, shared))).size, `content of ${type}`.length);
        }
        assert.deepEqual(await listAll(b, 'config'), []);
      }));

    test('saved data is copied: changing the caller buffer afterwards changes nothing', () =>
      withBackend(async (b) => {
        const h = handle('key');
        const data = Buffer.from('original');
        await b.save(h, data);
        data.fill(0);
        assert.deepEqual(await b.load(h), Buffer.from('original'));
      }));

    test('conditional writes: create only if absent, replace only if unchanged, one winner of a race', async (t) => {
      await withBackend(async (b) => {
        if (!b.capabilities.conditionalWrites) {
          const reason = 'the storage does not claim conditional writes (leases fall back to lock files)';
          console.log(`SKIPPED ${title}: conditional writes: ${reason}`);
          t.skip(reason);
          return;
        }
        const h = handle('lock', `lease-${newName().slice(0, 8)}`);
        const v1 = await b.createIfAbsent!(h, Buffer.from('first'));
        assert.ok(v1);
        assert.equal(await b.createIfAbsent!(h, Buffer.from('second')), undefined);
        const read = await b.loadVersioned!(h);
        assert.deepEqual(read, { data: Buffer.from('first'), version: v1 });
        const v2 = await b.replaceIfVersion!(h, Buffer.from('renewed'), v1);
        assert.ok(v2 && v2 !== v1);
        assert.equal(await b.replaceIfVersion!(h, Buffer.from('stale'), v1), undefined);
        assert.deepEqual(await b.load(h), Buffer.from('renewed'));
        // Five takers name the same version at once: exactly one wins, and its bytes stand.
        const won = await Promise.all(
          [0, 1, 2, 3, 4].map((i) => b.replaceIfVersion!(h, Buffer.from(`taker ${i}`), v2!)),
        );
        const winners = won.flatMap((v, i) => (v ? [i] : []));
        assert.equal(winners.length, 1, `winners: ${winners.join(', ')}`);
        assert.deepEqual(await b.load(h), Buffer.from(`taker ${winners[0]}`));
        const racing = handle('lock', `lease-${newName().slice(0, 8)}`);
        const created = await Promise.all(
          [0, 1, 2, 3, 4].map((i) => b.createIfAbsent!(racing, Buffer.from(`creator ${i}`))),
        );
        assert.equal(created.filter((v) => v !== undefined).length, 1);
        await assert.rejects(b.loadVersioned!(handle('lock', 'lease-missing')), notFound);
        assert.equal(
          await b.replaceIfVersion!(handle('lock', 'lease-missing'), Buffer.from('x'), v1!),
          undefined,
        );
      });
    });
  });
}
