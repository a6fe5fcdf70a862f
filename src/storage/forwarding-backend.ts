/**
 * @module storage/forwarding-backend
 * The base every backend wrapper (retry, limits, faults, counting) extends: it forwards each
 * method of the contract, the optional ones included, to the backend it wraps, so a wrapper
 * overrides only what it changes and cannot drop a capability by forgetting to pass it on.
 */
import type {
  Backend,
  BackendCapabilities,
  FileHandle,
  FileInfo,
  FileType,
  VersionedObject,
} from './backend.js';

/** The optional methods of Backend; a wrapper has one exactly when the backend it wraps has it. */
export const OPTIONAL_METHODS = [
  'retentionUntil',
  'removeUnfinished',
  'listUnfinished',
  'freeSpace',
  'createIfAbsent',
  'loadVersioned',
  'replaceIfVersion',
] as const;

type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];
// Fails to compile when Backend gains an optional method that OPTIONAL_METHODS does not name.
const everyOptionalMethod: Record<OptionalKeys<Backend>, true> = Object.fromEntries(
  OPTIONAL_METHODS.map((m) => [m, true]),
) as Record<(typeof OPTIONAL_METHODS)[number], true>;
void everyOptionalMethod;

export abstract class ForwardingBackend implements Backend {
  constructor(protected readonly inner: Backend) {
    // Callers test for an optional method before calling it (`if (b.freeSpace)`): where the
    // inner backend lacks one, so does the wrapper, whatever its class defines.
    for (const m of OPTIONAL_METHODS) {
      if (!inner[m]) Object.defineProperty(this, m, { value: undefined, enumerable: false });
    }
  }

  /** The backend this one wraps. */
  unwrap(): Backend {
    return this.inner;
  }

  get location(): string {
    return this.inner.location;
  }

  get capabilities(): BackendCapabilities {
    return this.inner.capabilities;
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  save(h: FileHandle, data: Buffer): Promise<void> {
    return this.inner.save(h, data);
  }

  load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    return this.inner.load(h, offset, length);
  }

  stat(h: FileHandle): Promise<FileInfo> {
    return this.inner.stat(h);
  }

  remove(h: FileHandle): Promise<void> {
    return this.inner.remove(h);
  }

  list(type: FileType): AsyncIterable<FileInfo> {
    return this.inner.list(type);
  }

  retentionUntil?(h: FileHandle): Promise<Date | undefined> {
    return this.inner.retentionUntil!(h);
  }

  removeUnfinished?(): Promise<number> {
    return this.inner.removeUnfinished!();
  }

  listUnfinished?(): AsyncIterable<FileInfo> {
    return this.inner.listUnfinished!();
  }

  freeSpace?(): Promise<number> {
    return this.inner.freeSpace!();
  }

  // Conditional writes pass through unretried: a retried create or replace whose first try
  // landed would report a lost race, and only the caller (a lease) knows what to do then.
  createIfAbsent?(h: FileHandle, data: Buffer): Promise<string | undefined> {
    return this.inner.createIfAbsent!(h, data);
  }

  loadVersioned?(h: FileHandle): Promise<VersionedObject> {
    return this.inner.loadVersioned!(h);
  }

  replaceIfVersion?(h: FileHandle, data: Buffer, version: string): Promise<string | undefined> {
    return this.inner.replaceIfVersion!(h, data, version);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
