/**
 * @module catalog/catalog-store
 * What the server keeps about itself (job history, API tokens, the audit chain, alert state),
 * as one asynchronous contract with two homes: a SQLite file (the embedded default,
 * catalog/catalog) and a PostgreSQL database shared by several `serve` instances and workers
 * (catalog/pg-catalog). Every method may be called from several processes at once; each
 * write is atomic on its own. The contract suite (test/catalog/catalog-contract.test.ts) runs
 * the same cases against both.
 */
import type { AuditEntry, AuditVerification, NewAuditEntry } from './audit-log.js';
import type { Outcomes } from './backup-outcomes.js';
import type { AlertRecord, JobFilter, JobKind, JobRecord, JobUpdate, NewJob } from './catalog.js';
import type { Role, TokenInfo } from './tokens.js';

export interface AuditStore {
  /** Appends one entry to the hash chain (atomic: concurrent appends never fork the chain). */
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Newest first. */
  list(filter?: { since?: string; action?: string; limit?: number }): Promise<AuditEntry[]>;
  /** Walks the whole chain from the first entry. */
  verify(): Promise<AuditVerification>;
}

export interface TokenStoreApi {
  create(name: string, role: Role, actor: string): Promise<{ token: string; info: TokenInfo }>;
  list(): Promise<TokenInfo[]>;
  revoke(name: string, actor: string): Promise<void>;
  authenticate(token: string): Promise<{ name: string; role: Role } | undefined>;
  touch(name: string): Promise<void>;
}

/** A source's newest finished backup job and its newest failed one. */
export type BackupOutcomes = Outcomes<JobRecord>;

export interface CatalogStore {
  /** 'sqlite' or 'postgres'. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where it lives, safe to print: a file path, or a postgres:// URL without its password. */
  readonly location: string;
  /** True when this open created it (empty: rebuild job history from the repository). */
  readonly created: boolean;
  readonly audit: AuditStore;
  readonly tokens: TokenStoreApi;

  close(): Promise<void>;
  /** Rejects when the database does not answer. */
  ping(): Promise<void>;
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  createJob(job: NewJob): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** A job by id or unique prefix (usage error when the prefix matches several). */
  findJob(ref: string): Promise<JobRecord | undefined>;
  updateJob(id: string, update: JobUpdate): Promise<JobRecord>;
  /** Newest first; limit 100 by default. */
  listJobs(filter?: JobFilter): Promise<JobRecord[]>;
  /** Jobs queued or running, in any process, oldest first. */
  activeJobs(): Promise<JobRecord[]>;
  recentBackups(source: string, limit: number): Promise<JobRecord[]>;
  lastFinished(kind: JobKind, source: string | null): Promise<JobRecord | undefined>;
  lastFailure(source: string): Promise<JobRecord | undefined>;
  /**
   * For each named source at once (one query, for the overview of every source): its newest
   * finished backup (as lastFinished('backup', source)) and its newest failed one (as
   * lastFailure). A source with neither is absent from the map.
   */
  lastBackupOutcomes(sources: readonly string[]): Promise<Map<string, BackupOutcomes>>;
  knownSnapshots(): Promise<Set<string>>;
  /**
   * Adds finished jobs as given (rebuilt from the repository) in one transaction, skipping a
   * job that names a snapshot some job already names, so two rebuilds at once add each job
   * once. Returns how many were added.
   */
  insertFinishedJobs(jobs: Omit<JobRecord, 'id' | 'snapshot'>[]): Promise<number>;

  getAlert(key: string): Promise<AlertRecord | undefined>;
  listAlerts(state?: 'firing' | 'resolved'): Promise<AlertRecord[]>;
  saveAlert(alert: AlertRecord): Promise<void>;
}
