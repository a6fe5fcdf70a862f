/**
 * @module jobs/queue/job-progress
 * Live progress of the jobs this server runs: a Progress implementation per job (the core
 * calls it, as it calls the terminal bar in the CLI), kept in memory while the job runs and
 * shown by GET /api/jobs and the dashboard's live view. Nothing here is stored.
 */
import type { Clock } from '../../clock.js';
import type { Progress } from '../../progress.js';

export interface JobProgressState {
  /** The phase the core named ("backup app-db", "restore"). */
  phase: string;
  /** Bytes processed in this phase. */
  bytes_done: number;
  /** Bytes the phase expects, when the engine knows. */
  bytes_total: number | null;
  /** Phases finished so far (a source with several units has one per unit). */
  phases_done: number;
  updated_at: string;
}

export class JobProgressBoard {
  private readonly states = new Map<string, JobProgressState>();

  constructor(private readonly clock: Clock) {}

  /** A Progress that records into this board under `jobId`. */
  track(jobId: string): Progress {
    const touch = (change: Partial<JobProgressState>) => {
      const prior = this.states.get(jobId) ?? {
        phase: '',
        bytes_done: 0,
        bytes_total: null,
        phases_done: 0,
        updated_at: '',
      };
      this.states.set(jobId, { ...prior, ...change, updated_at: this.clock.now().toISOString() });
    };
    return {
      start: (label, totalBytes) => touch({ phase: label, bytes_done: 0, bytes_total: totalBytes ?? null }),
      advance: (bytes) => touch({ bytes_done: (this.states.get(jobId)?.bytes_done ?? 0) + bytes }),
      done: () => touch({ phases_done: (this.states.get(jobId)?.phases_done ?? 0) + 1 }),
    };
  }

  get(jobId: string): JobProgressState | undefined {
    return this.states.get(jobId);
  }

  clear(jobId: string): void {
    this.states.delete(jobId);
  }
}
