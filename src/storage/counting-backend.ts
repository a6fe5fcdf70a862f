/**
 * @module storage/counting-backend
 * Counts the calls and bytes that pass through a backend, per operation, for benchmarks
 * (requests per GiB stored) and for tests that assert what was or was not transferred.
 */
import type { Backend, FileHandle, FileInfo, FileType } from './backend.js';
import { ForwardingBackend } from './forwarding-backend.js';

export interface OperationCounts {
  create: number;
  save: number;
  load: number;
  stat: number;
  remove: number;
  list: number;
  bytesSaved: number;
  bytesLoaded: number;
}

export interface CountingBackend extends Backend {
  readonly counts: OperationCounts;
  /** All calls, of every kind. */
  readonly calls: number;
  reset(): void;
}

function zero(): OperationCounts {
  return { create: 0, save: 0, load: 0, stat: 0, remove: 0, list: 0, bytesSaved: 0, bytesLoaded: 0 };
}

class Counter extends ForwardingBackend implements CountingBackend {
  counts = zero();

  get calls(): number {
    const c = this.counts;
    return c.create + c.save + c.load + c.stat + c.remove + c.list;
  }

  reset(): void {
    this.counts = zero();
  }

  override create(): Promise<void> {
    this.counts.create++;
    return this.inner.create();
  }

  override async save(h: FileHandle, data: Buffer): Promise<void> {
    this.counts.save++;
    await this.inner.save(h, data);
    this.counts.bytesSaved += data.length;
  }

  override async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    this.counts.load++;
    const data = await this.inner.load(h, offset, length);
    this.counts.bytesLoaded += data.length;
    return data;
  }

  override stat(h: FileHandle): Promise<FileInfo> {
    this.counts.stat++;
    return this.inner.stat(h);
  }

  override remove(h: FileHandle): Promise<void> {
    this.counts.remove++;
    return this.inner.remove(h);
  }

  override list(type: FileType): AsyncIterable<FileInfo> {
    this.counts.list++;
    return this.inner.list(type);
  }
}

export function withCounting(backend: Backend): CountingBackend {
  return new Counter(backend);
}
