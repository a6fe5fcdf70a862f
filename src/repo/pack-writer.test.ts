import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Backend, FileHandle } from '../storage/backend.js';
import { ForwardingBackend } from '../storage/forwarding-backend.js';
import { createLocalBackend } from '../storage/local/local-backend.js';
import { withRetries } from '../storage/retry-backend.js';
import { RepoContentStore } from './content-store.js';
import { Repository } from './repository.js';

const kdf = { N: 1024, r: 8, p: 1 };
const chunker = { minSize: 64 * 1024, avgSize: 256 * 1024, maxSize: 1024 * 1024 };
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function* pieces(data: Buffer): AsyncIterable<Buffer> {
  for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20));
}

/** Every pack file's SHA-256 is its name: none was changed after it was stored. */
async function packsMatchNames(dir: string): Promise<number> {
  let n = 0;
  for (const sub of await readdir(join(dir, 'data'))) {
    for (const name of await readdir(join(dir, 'data', sub))) {
      const hash = createHash('sha256')
        .update(await readFile(join(dir, 'data', sub, name)))
        .digest('hex');
      assert.equal(hash, name, `pack ${name.slice(0, 8)} does not hash to its name`);
      n++;
    }
  }
  return n;
}

/** Records the memory each saved pack came from. */
class Recording extends ForwardingBackend {
  readonly memory = new Set<ArrayBufferLike>();
  packs = 0;
  override async save(h: FileHandle, data: Buffer): Promise<void> {
    if (h.type === 'pack') {
      this.packs++;
      this.memory.add(data.buffer);
    }
    await this.inner.save(h, data);
  }
}

/**
 * The first attempt to save each pack hangs, then (after the retry stored the pack) writes
 * the buffer as it is by then: a slow request that was given up on but still sends.
 */
class LateSender extends ForwardingBackend {
  private readonly tried = new Set<string>();
  readonly late: Promise<void>[] = [];
  override save(h: FileHandle, data: Buffer): Promise<void> {
    if (h.type !== 'pack' || this.tried.has(h.name)) return this.inner.save(h, data);
    this.tried.add(h.name);
    this.late.push(new Promise<void>((r) => setTimeout(r, 300)).then(() => this.inner.save(h, data)));
    return new Promise(() => {});
  }
}

/** Writes 12 MiB of random content into a fresh repository over `wrap`'s backend; its folder. */
async function backupThrough(wrap: (b: Backend) => Backend): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-packs-'));
  dirs.push(dir);
  await Repository.init(createLocalBackend(dir), 'secret', { kdf, packSize: 1024 * 1024, chunker });
  const repo = await Repository.open(wrap(createLocalBackend(dir)), 'secret', { kdf });
  try {
    await new RepoContentStore(repo).saveContent(pieces(randomBytes(12 * 1024 * 1024)));
    await repo.flush();
  } finally {
    await repo.close();
  }
  return dir;
}

test('pack buffers are built in again once their pack is stored, and every pack keeps its bytes', async () => {
  let recording: Recording | undefined;
  const dir = await backupThrough((b) => {
    recording = new Recording(b);
    return recording;
  });
  const { packs, memory } = recording!;
  assert.ok(packs >= 8, `${packs} packs`);
  assert.ok(memory.size < packs / 2, `${packs} packs from ${memory.size} buffers`);
  assert.equal(await packsMatchNames(dir), packs);
});

test('a pack whose save was abandoned (timed out, still sending) keeps its buffer: the late bytes are the pack', async () => {
  let sender: LateSender | undefined;
  const dir = await backupThrough((b) => {
    sender = new LateSender(b);
    return withRetries(sender, { timeoutMs: 50, sleep: async () => {} });
  });
  const { late } = sender!;
  await Promise.all(late);
  assert.ok(late.length >= 8, `${late.length} packs`);
  assert.equal(await packsMatchNames(dir), late.length);
});
