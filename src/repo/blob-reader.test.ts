import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { FileInfo, FileType } from '../storage/backend.js';
import { ForwardingBackend } from '../storage/forwarding-backend.js';
import { createMemoryBackend } from '../testing/memory-backend.js';
import { Repository } from './repository.js';

const kdf = { N: 1024, r: 8, p: 1 };

/** Lists, once, an index file that is gone by the time it is read (a prune replaced it). */
class StaleListing extends ForwardingBackend {
  stale = true;
  override async *list(type: FileType): AsyncIterable<FileInfo> {
    if (type === 'index' && this.stale) {
      this.stale = false;
      yield { name: randomBytes(32).toString('hex'), size: 100 };
    }
    yield* this.inner.list(type);
  }
}

test('loading the index lists again when a listed index file is gone, and finds what replaced it', async () => {
  const memory = createMemoryBackend();
  const writer = await Repository.init(memory, 'secret', { kdf });
  const { id } = await writer.saveBlob('data', randomBytes(1000));
  await writer.flush();
  await writer.close();

  const reader = await Repository.open(new StaleListing(memory), 'secret', { kdf });
  await reader.loadIndex();
  assert.equal(reader.hasBlob(id), true);
  await reader.close();
});
