/**
 * @module jobs/waiting-store.test
 * The store a backup's source writes to while the repository opens: it reads no more than
 * READ_AHEAD bytes ahead of the repository, saves the whole stream byte for byte once the
 * repository is ready (from a source that reuses one buffer for every piece), and when the
 * repository fails, fails with its error and lets the source's generator clean up. A real
 * repository on disk.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LifeboatError } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import { Repository } from '../repo/repository.js';
import { openBackend } from '../storage/registry.js';
import { READ_AHEAD, WaitingStore } from './waiting-store.js';

const PIECE = 64 * 1024;
const TOTAL = 2 * READ_AHEAD + 12345;

/** TOTAL bytes in pieces written into one reused buffer; counts what was pulled. */
function source() {
  const state = { pulled: 0, cleanedUp: false, hash: createHash('sha256') };
  async function* stream(): AsyncIterable<Uint8Array> {
    const buf = Buffer.alloc(PIECE);
    try {
      for (let i = 0; state.pulled < TOTAL; i++) {
        const n = Math.min(PIECE, TOTAL - state.pulled);
        buf.fill(i % 251);
        buf.writeUInt32BE(i, 0);
        state.hash.update(buf.subarray(0, n));
        state.pulled += n;
        yield buf.subarray(0, n);
      }
    } finally {
      state.cleanedUp = true;
    }
  }
  return { state, stream: stream() };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('WaitingStore', () => {
  let dir: string;
  let repo: Repository;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-waiting-store-'));
    repo = await Repository.init(await openBackend(join(dir, 'repo')), 'pw', {
      kdf: { N: 1024, r: 8, p: 1 },
    });
    await repo.loadIndex();
  });
  after(async () => {
    await repo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads at most READ_AHEAD bytes before the repository is ready, then saves the whole stream', async () => {
    const ready = deferred<RepoContentStore>();
    const store = new WaitingStore(ready.promise);
    const { state, stream } = source();
    const saved = store.saveContent(stream, { sha256: true });
    while (state.pulled < READ_AHEAD) await settle();
    await settle();
    assert.ok(state.pulled <= READ_AHEAD + PIECE, `read ${state.pulled} bytes ahead`);
    ready.resolve(new RepoContentStore(repo));
    const ref = await saved;
    assert.equal(ref.size, TOTAL);
    assert.equal(ref.sha256, state.hash.digest('hex'));
    await repo.flush();
    let bytes = 0;
    const hash = createHash('sha256');
    for await (const chunk of new RepoContentStore(repo).readContent(ref.chunks)) {
      bytes += chunk.length;
      hash.update(chunk);
    }
    assert.equal(bytes, TOTAL);
    assert.equal(hash.digest('hex'), ref.sha256);
  });

  it("fails with the repository's error and lets the source clean up", async () => {
    const ready = deferred<RepoContentStore>();
    const store = new WaitingStore(ready.promise);
    const { state, stream } = source();
    const saved = store.saveContent(stream);
    await settle();
    const err = new LifeboatError('wrong_password', '[repo] wrong password (test)');
    ready.reject(err);
    await assert.rejects(saved, (e) => e === err);
    await settle();
    assert.ok(state.cleanedUp, "the source's generator did not clean up");
    assert.ok(state.pulled <= READ_AHEAD + PIECE);
  });
});
