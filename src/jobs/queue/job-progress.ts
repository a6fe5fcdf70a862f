/**
 * @module jobs/queue/job-progress
 * Live progress of the jobs this server runs: a Progress implementation per job (the core
 * calls it, as it calls the terminal bar in the CLI), kept in memory while the job runs and
 * shown by GET /api/jobs and the dashboard's live view. The counts and estimates come from
 * the same ProgressTally the CLI's bar and `--json` lines use. The latest figures are also
 * stored with the job (at most every STORE_EVERY_MS, and the last ones of a phase), so the
 * other instances of a fleet show them too; they are cleared when the job ends.
 */
import type { JobProgressState } from '../../catalog/catalog.js';
import type { Clock } from '../../clock.js';
import { type Progress, ProgressTally } from '../../progress.js';

export type { JobProgressState };

/** How often a running job's progress is written to the catalog, at most. */
export const STORE_EVERY_MS = 2_000;

/** Writes a job's progress where other processes read it (null: clear it). */
export type ProgressStore = (jobId: string, progress: JobProgressState | null) => Promise<void>;

interface Tracked {
  tally: ProgressTally;
  /** The current phase has ended (done() called, no new start() yet). */
  ended: boolean;
  phasesDone: number;
  updatedAt: Date;
  /** When the progress was last written (ms, wall clock), and a later write waiting. */
  storedAt: number;
  pending?: NodeJS.Timeout;
  /** The write under way, so the one that clears it comes after. */
  writing: Promise<void>;
}

export class JobProgressBoard {
  private readonly jobs = new Map<string, Tracked>();

  constructor(
    private readonly clock: Clock,
    private readonly store?: ProgressStore,
    private readonly onStoreError: (err: unknown) => void = () => {},
  ) {}

  /** A Progress that records into this board under `jobId`. */
  track(jobId: string): Progress {
    const entry = (): Tracked => {
      let t = this.jobs.get(jobId);
      if (!t) {
        t = {
          tally: new ProgressTally(() => this.clock.now().getTime()),
          ended: false,
          phasesDone: 0,
          updatedAt: this.clock.now(),
          storedAt: 0,
          writing: Promise.resolve(),
        };
        this.jobs.set(jobId, t);
      }
      t.updatedAt = this.clock.now();
      this.schedule(jobId, t);
      return t;
    };
    return {
      start: (label, totalBytes) => {
        const t = entry();
        t.tally.start(label, totalBytes);
        t.ended = false;
      },
      // Having total() makes an engine count its work ahead (a files backup scans the tree).
      total: (totals) => entry().tally.total(totals),
      advance: (bytes, detail) => entry().tally.advance(bytes, detail),
      done: () => {
        const t = entry();
        if (t.ended) return;
        t.ended = true;
        t.phasesDone += 1;
      },
    };
  }

  /** The job's progress now (ETA and elapsed time as of this call), or undefined before any. */
  get(jobId: string): JobProgressState | undefined {
    const t = this.jobs.get(jobId);
    if (!t) return undefined;
    return {
      phase: t.tally.label,
      ...t.tally.figures(t.ended),
      phases_done: t.phasesDone,
      updated_at: t.updatedAt.toISOString(),
    };
  }

  /** Forgets the job's progress and clears the stored one (after any write under way). */
  async clear(jobId: string): Promise<void> {
    const t = this.jobs.get(jobId);
    this.jobs.delete(jobId);
    if (!t || !this.store) return;
    clearTimeout(t.pending);
    t.pending = undefined;
    await t.writing;
    await this.write(jobId, null);
  }

  /** A write now when the last one is old enough, else one when it will be (the latest figures then). */
  private schedule(jobId: string, t: Tracked): void {
    if (!this.store || t.pending) return;
    // Wall-clock time: a test clock that stands still must not stop the writes.
    const wait = Math.max(0, t.storedAt + STORE_EVERY_MS - Date.now());
    t.pending = setTimeout(() => {
      t.pending = undefined;
      if (this.jobs.get(jobId) !== t) return;
      t.storedAt = Date.now();
      t.writing = t.writing.then(() => this.write(jobId, this.get(jobId) ?? null));
    }, wait);
    t.pending.unref();
  }

  private async write(jobId: string, progress: JobProgressState | null): Promise<void> {
    try {
      await this.store?.(jobId, progress);
    } catch (err) {
      // Progress is for display: a failed write is logged, the job goes on.
      this.onStoreError(err);
    }
  }
}
