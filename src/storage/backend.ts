/**
 * @module storage/backend
 * The contract every storage backend (local, s3, azure, sftp) implements. The repository
 * above it knows nothing of where bytes live; backends know nothing of what bytes mean.
 * Retry, rate limits and fault injection wrap a backend; they never live inside one.
 */

/** The kinds of object a repository stores; each maps to its own folder or prefix. */
/** 'wal': archived named objects (PostgreSQL WAL files), addressed by name (repo/object-archive.ts). */
export type FileType = 'config' | 'key' | 'lock' | 'snapshot' | 'index' | 'pack' | 'wal';

/**
 * Buffers given to save() that an abandoned attempt (a timed-out or failed request still
 * under way) may yet read: their callers must not reuse them.
 */
export const stillRead = new WeakSet<Buffer>();

export const FILE_TYPES: readonly FileType[] = ['config', 'key', 'lock', 'snapshot', 'index', 'pack', 'wal'];

export interface FileHandle {
  type: FileType;
  /** For 'config' the name is ignored (there is one config object). */
  name: string;
}

export interface FileInfo {
  name: string;
  size: number;
  /**
   * When the object was stored, by the storage's own clock (not the writer's): S3 and Azure
   * LastModified, a file's mtime. list() SHOULD give it when the storage records one; callers
   * MUST treat its absence as unknown. Retention trusts it over the time a snapshot claims.
   */
  modified?: Date;
}

export interface BackendCapabilities {
  /** save() replaces atomically: a reader sees the old object or the new one, never a mix. */
  atomicReplace: boolean;
  /** Ranged reads are served without fetching the whole object. */
  rangedReads: boolean;
  /** Free space can be asked for (local disks). */
  freeSpace: boolean;
  /**
   * Objects may be under a retention lock (S3 Object Lock, `immutable_days`) that forbids
   * removing them before a date. Such a backend implements retentionUntil(), and its remove()
   * of a retained object MUST fail with code 'retained' (never hide the object and report
   * success), so forget and prune can say what is still locked. Absent means false.
   */
  retention?: boolean;
  /**
   * The storage can write on a condition, atomically against every other writer: create only
   * if absent, replace only if unchanged since read (S3 If-None-Match / If-Match, Azure
   * ETags, a local rename protocol). Such a backend implements createIfAbsent(),
   * loadVersioned() and replaceIfVersion(); leases (repo/lease.ts) rely on them. A store that
   * accepts the headers but ignores them (some S3 servers) MUST NOT claim it: the S3 backend
   * claims it on AWS or where `conditional_writes` says so, and checks the store once per
   * process before its first conditional write. Absent means false.
   */
  conditionalWrites?: boolean;
}

/** An object's bytes and the version tag (ETag, content hash) a conditional replace names. */
export interface VersionedObject {
  data: Buffer;
  version: string;
}

/** Age past which a temp file of a WAL object or lock is a leftover, not a save in flight. */
export const UNFINISHED_AGE_MS = 60 * 60 * 1000;

export interface Backend {
  /** Where the repository is, with any credentials removed: safe for messages and logs. */
  readonly location: string;
  readonly capabilities: BackendCapabilities;

  /**
   * Prepares an empty location for a new repository. MUST fail with code 'repo_exists' when a
   * config object is already there. Creating folders or containers that exist is fine.
   */
  create(): Promise<void>;

  /**
   * Stores `data` under `handle`. MUST be all-or-nothing: after a crash at any point the
   * object is either absent or complete. MUST be durable when the promise resolves.
   * Saving a name that exists replaces it (callers only do this with identical content, or
   * for locks). A full disk MUST fail with code 'no_space'. Once the promise resolves, the
   * backend no longer reads `data` (the caller may reuse it), unless it named the buffer in
   * `stillRead` (a wrapper that abandoned an attempt still sending it).
   */
  save(handle: FileHandle, data: Buffer): Promise<void>;

  /**
   * Reads the object, or `length` bytes from `offset` when given. A missing object MUST fail
   * with code 'not_found'. A range past the end MUST fail ('integrity'), not return short
   * data; a negative or fractional offset or length MUST fail with 'internal' (byte-range.ts
   * holds both checks).
   */
  load(handle: FileHandle, offset?: number, length?: number): Promise<Buffer>;

  /** Size of the object; 'not_found' when missing. */
  stat(handle: FileHandle): Promise<FileInfo>;

  /**
   * Removes the object. Removing a missing object succeeds (idempotent). An object under a
   * retention lock is not removed: 'retained' (see capabilities.retention).
   */
  remove(handle: FileHandle): Promise<void>;

  /**
   * Every object of `type`, in no particular order. MUST be complete: an object whose save()
   * resolved before the listing began is listed. Objects of an unfinished save() are not.
   * Each entry SHOULD carry `modified` where the storage keeps a stored time.
   */
  list(type: FileType): AsyncIterable<FileInfo>;

  /**
   * When capabilities.retention: the time before which the object cannot be removed, or
   * undefined when it may be removed now (no lock, or the lock has expired). 'not_found' when
   * the object is missing.
   */
  retentionUntil?(handle: FileHandle): Promise<Date | undefined>;

  /**
   * Removes what saves that never finished left behind (a killed writer's temp files), and
   * returns how many bytes that freed. Callers hold the repository's exclusive lock (prune),
   * under which only WAL objects and locks may still be saved (lock.ts): leftovers of those
   * go only once UNFINISHED_AGE_MS old, as no save takes that long. Backends whose saves
   * leave nothing need not implement it.
   */
  removeUnfinished?(): Promise<number>;

  /**
   * Lists what removeUnfinished would remove that is UNFINISHED_AGE_MS old or older (younger
   * temp files may belong to a save in progress), by path from the repository root, for
   * `check` to report. Implemented together with removeUnfinished.
   */
  listUnfinished?(): AsyncIterable<FileInfo>;

  /**
   * When capabilities.conditionalWrites: stores `data` only if no object exists under
   * `handle`, and returns its version; undefined when one exists (another writer won). Two
   * concurrent calls MUST NOT both succeed.
   */
  createIfAbsent?(handle: FileHandle, data: Buffer): Promise<string | undefined>;

  /** When capabilities.conditionalWrites: the object and its version; 'not_found' when missing. */
  loadVersioned?(handle: FileHandle): Promise<VersionedObject>;

  /**
   * When capabilities.conditionalWrites: replaces the object only if its version is still
   * `version`, and returns the new version; undefined when it changed or is gone. Of two
   * calls naming the same version, at most one succeeds.
   */
  replaceIfVersion?(handle: FileHandle, data: Buffer, version: string): Promise<string | undefined>;

  /** Free bytes at the location, when capabilities.freeSpace. */
  freeSpace?(): Promise<number>;

  /** Releases connections. */
  close(): Promise<void>;
}
