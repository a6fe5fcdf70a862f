/**
 * @module testing/memory-backend
 * A backend in a Map, for tests of the layers above storage. It keeps the full contract
 * (not_found, ranged reads that fail past the end, idempotent remove, copies in and out) so
 * tests that pass here do not lean on behaviour real backends lack.
 */
import { LifeboatError } from '../errors.js';
import type { Backend, BackendCapabilities, FileHandle, FileInfo, FileType } from '../storage/backend.js';
import { rangeStart, tooShort } from '../storage/byte-range.js';
import { objectName } from '../storage/layout.js';

const CAPABILITIES: BackendCapabilities = { atomicReplace: true, rangedReads: true, freeSpace: false };

let counter = 0;

export class MemoryBackend implements Backend {
  readonly location: string;
  readonly capabilities = CAPABILITIES;
  /** Objects by type, then name. Tests may inspect or damage them directly. */
  readonly objects = new Map<FileType, Map<string, Buffer>>();

  constructor(location = `memory:${++counter}`) {
    this.location = location;
  }

  private folder(type: FileType): Map<string, Buffer> {
    let m = this.objects.get(type);
    if (!m) {
      m = new Map();
      this.objects.set(type, m);
    }
    return m;
  }

  private key(h: FileHandle): string {
    return h.type === 'config' ? 'config' : h.name;
  }

  private get(h: FileHandle): Buffer {
    const data = this.folder(h.type).get(this.key(h));
    if (!data)
      throw new LifeboatError('not_found', `[storage:memory] ${objectName(h)} not found at ${this.location}`);
    return data;
  }

  async create(): Promise<void> {
    if (this.folder('config').has('config')) {
      throw new LifeboatError(
        'repo_exists',
        `[storage:memory] a repository already exists at ${this.location}`,
      );
    }
  }

  async save(h: FileHandle, data: Buffer): Promise<void> {
    this.folder(h.type).set(this.key(h), Buffer.from(data));
  }

  async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    const data = this.get(h);
    const start = rangeStart('storage:memory', h, offset, length);
    const end = length === undefined ? data.length : start + length;
    if (start > data.length || end > data.length) {
      throw tooShort('storage:memory', h, this.location, start, length ?? 0, data.length);
    }
    return Buffer.from(data.subarray(start, end));
  }

  async stat(h: FileHandle): Promise<FileInfo> {
    return { name: this.key(h), size: this.get(h).length };
  }

  async remove(h: FileHandle): Promise<void> {
    this.folder(h.type).delete(this.key(h));
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    // A snapshot of the names, so removals during iteration behave like a real listing.
    const entries = [...this.folder(type)].map(([name, data]) => ({ name, size: data.length }));
    yield* entries;
  }

  async close(): Promise<void> {}
}

export function createMemoryBackend(location?: string): MemoryBackend {
  return new MemoryBackend(location);
}
