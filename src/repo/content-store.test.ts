import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { RepoContentStore } from './content-store.js';
import { Repository } from './repository.js';

const kdf = { N: 1024, r: 8, p: 1 };
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function* pieces(data: Buffer, size: number): AsyncIterable<Buffer> {
  // One reused buffer, as a file read gives them: the store must copy what it keeps.
  const buffer = Buffer.alloc(size);
  for (let i = 0; i < data.length; i += size) {
    const n = data.copy(buffer, 0, i, Math.min(data.length, i + size));
    yield buffer.subarray(0, n);
  }
}

/** Text with repeats, random bytes and zeros: cuts by content, by maxSize, and a short tail. */
function sample(): Buffer {
  const words = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(60_000));
  return Buffer.concat([randomBytes(5_000_000), words, Buffer.alloc(9_000_000), randomBytes(12_345)]);
}

test('chunking in the seal workers gives the same chunks and ids as the main thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-content-'));
  dirs.push(dir);
  // Small chunks, so the pieces hold many cuts and the zeros many forced (maxSize) ones.
  const chunker = { minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1024 * 1024 };
  await Repository.init(createLocalBackend(dir), 'secret', { kdf, packSize: 1024 * 1024, chunker });
  const serial = await Repository.open(createLocalBackend(dir), 'secret', { kdf, sealWorkers: 0 });
  const pooled = await Repository.open(createLocalBackend(dir), 'secret', { kdf, sealWorkers: 2 });
  assert.equal(serial.contentPool(), undefined);
  assert.ok(pooled.contentPool());
  try {
    const data = sample();
    const expected = await new RepoContentStore(serial).saveContent(pieces(data, 1 << 20), { sha256: true });
    // Piece sizes that do not line up with the store's pieces or the chunks.
    for (const size of [1 << 20, 777_777, 6 * 1024 * 1024 + 3]) {
      const got = await new RepoContentStore(pooled).saveContent(pieces(data, size), { sha256: true });
      assert.deepEqual(got, expected);
    }
    assert.ok(expected.chunks.length > 20, `${expected.chunks.length} chunks`);
    await pooled.flush();

    // What the workers sealed reads back whole through a fresh handle.
    const reader = await Repository.open(createLocalBackend(dir), 'secret', { kdf });
    await reader.loadIndex();
    const back: Buffer[] = [];
    for await (const c of new RepoContentStore(reader).readContent(expected.chunks))
      back.push(Buffer.from(c));
    assert.ok(Buffer.concat(back).equals(data));
    await reader.close();

    // Stored once: saving it again through the workers adds nothing.
    const before = pooled.bytesAdded;
    await new RepoContentStore(pooled).saveContent(pieces(data, 1 << 20));
    await pooled.flush();
    assert.equal(pooled.bytesAdded, before);
  } finally {
    await serial.close();
    await pooled.close();
  }
});

test('a stream that fails midway fails the save, and the store goes on working', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-content-'));
  dirs.push(dir);
  const repo = await Repository.init(createLocalBackend(dir), 'secret', { kdf, packSize: 1024 * 1024 });
  const store = new RepoContentStore(repo);
  const data = randomBytes(6_000_000);
  async function* failing(): AsyncIterable<Buffer> {
    yield data.subarray(0, 5_000_000);
    throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
  }
  try {
    await assert.rejects(store.saveContent(failing()), /EIO/);
    const ref = await store.saveContent(pieces(data, 1 << 20));
    assert.equal(ref.size, data.length);
    await repo.flush();
    const back: Buffer[] = [];
    for await (const c of store.readContent(ref.chunks)) back.push(Buffer.from(c));
    assert.ok(Buffer.concat(back).equals(data));
  } finally {
    await repo.close();
  }
});
