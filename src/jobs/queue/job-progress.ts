/**
 * @module jobs/queue/job-progress
 * Live progress of the jobs this server runs: a Progress implementation per job (the core
 * calls it, as it calls the terminal bar in the CLI), kept in memory while the job runs and
 * shown by GET /api/jobs and the dashboard's live view. The counts and estimates come from
 * the same ProgressTally the CLI's bar and `--json` lines use. Nothing here is stored.
 */
import type { Clock } from '../../clock.js';
import { type Progress, type ProgressFigures, ProgressTally } from '../../progress.js';

/** A running job's progress: its current phase's figures (files and bytes of the total, percent, ETA). */
export interface JobProgressState extends ProgressFigures {
  /** The phase the core named ("backup app-db", "restore"). */
  phase: string;
  /** Phases finished so far (a source with several units has one per unit). */
  phases_done: number;
  updated_at: string;
}

interface Tracked {
  tally: ProgressTally;
  /** The current phase has ended (done() called, no new start() yet). */
  ended: boolean;
  phasesDone: number;
  updatedAt: Date;
}

export class JobProgressBoard {
  private readonly jobs = new Map<string, Tracked>();

  constructor(private readonly clock: Clock) {}

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
        };
        this.jobs.set(jobId, t);
      }
      t.updatedAt = this.clock.now();
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

  clear(jobId: string): void {
    this.jobs.delete(jobId);
  }
}
