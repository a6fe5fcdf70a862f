/**
 * @module progress
 * Progress is an interface the core calls; the terminal bar, `--json` lines and the server's
 * live view implement it outside the core. ProgressTally keeps the counts and the estimates
 * (percentage, ETA) that every renderer shows the same way.
 */

/** What the bytes of an advance() were. */
export interface ProgressDetail {
  /** Files (or other items) these bytes completed. */
  files?: number;
  /** Not read again: unchanged since the previous snapshot, counted as processed. */
  reused?: boolean;
}

/** The size of a phase's work, as far as it is known. */
export interface ProgressTotals {
  bytes: number;
  files?: number;
  /** The count is complete (a scan that has finished); a partial one only grows. */
  final: boolean;
}

export interface Progress {
  /** A new phase begins ("backup app-db", "restore"); total bytes when known. */
  start(label: string, totalBytes?: number): void;
  /**
   * The phase's totals became known or grew (a files backup scans the tree beside its walk).
   * Optional: an engine does that extra work only for a renderer that has this method.
   */
  total?(totals: ProgressTotals): void;
  /** Bytes processed since the last call, and what they were. */
  advance(bytes: number, detail?: ProgressDetail): void;
  /** The phase ended. */
  done(): void;
}

export const silentProgress: Progress = {
  start() {},
  advance() {},
  done() {},
};

/** One Progress that passes every call on to each of `targets` (a renderer and a tally). */
export function teeProgress(...targets: Progress[]): Progress {
  const tee: Progress = {
    start: (label, totalBytes) => {
      for (const t of targets) t.start(label, totalBytes);
    },
    advance: (bytes, detail) => {
      for (const t of targets) t.advance(bytes, detail);
    },
    done: () => {
      for (const t of targets) t.done();
    },
  };
  if (targets.some((t) => t.total)) {
    tee.total = (totals) => {
      for (const t of targets) t.total?.(totals);
    };
  }
  return tee;
}

/**
 * A phase's counts and estimates as data, the same fields wherever they are shown (`--json`
 * lines, the API's running jobs). A finished phase is 100% with no time left.
 */
export interface ProgressFigures {
  files_done: number;
  files_total: number | null;
  bytes_done: number;
  bytes_processed_unchanged: number;
  bytes_total: number | null;
  total_is_estimate: boolean;
  /** 0..100, one decimal; null while the total is unknown. */
  percent: number | null;
  /** Whole seconds left at the rate so far; null while unknown. */
  eta_seconds: number | null;
  elapsed_seconds: number;
}

/** A phase's counts and estimates; `now` in milliseconds (a renderer's clock). */
export class ProgressTally implements Progress {
  label = '';
  bytesDone = 0;
  /** Of bytesDone, the bytes that were not read again. */
  bytesReused = 0;
  filesDone = 0;
  totalBytes: number | undefined;
  totalFiles: number | undefined;
  /** Whether the totals are exact (given at start, or a finished scan), not an estimate. */
  totalFinal = false;
  private startedAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  start(label: string, totalBytes?: number): void {
    this.label = label;
    this.bytesDone = 0;
    this.bytesReused = 0;
    this.filesDone = 0;
    this.totalBytes = totalBytes;
    this.totalFiles = undefined;
    this.totalFinal = totalBytes !== undefined;
    this.startedAt = this.now();
  }

  total(totals: ProgressTotals): void {
    // A partial scan below the estimate given at start (the previous snapshot's size) says less.
    if (!totals.final && this.totalBytes !== undefined && totals.bytes < this.totalBytes) return;
    this.totalBytes = totals.bytes;
    this.totalFiles = totals.files;
    this.totalFinal = totals.final;
  }

  advance(bytes: number, detail: ProgressDetail = {}): void {
    this.bytesDone += bytes;
    if (detail.reused) this.bytesReused += bytes;
    this.filesDone += detail.files ?? 0;
  }

  done(): void {}

  elapsedSeconds(): number {
    return Math.max(0, (this.now() - this.startedAt) / 1000);
  }

  /** Bytes per second since the phase began. */
  rate(): number {
    const s = this.elapsedSeconds();
    return s > 0 ? this.bytesDone / s : 0;
  }

  /** Done of the total, 0..100; below 100 until done() while the total is an estimate. */
  percent(): number | undefined {
    if (!this.totalBytes) return undefined;
    const p = (this.bytesDone / this.totalBytes) * 100;
    return Math.min(p, this.totalFinal ? 100 : 99);
  }

  /** Seconds left at the rate so far, when the total is known and work has begun. */
  etaSeconds(): number | undefined {
    const rate = this.rate();
    if (!this.totalBytes || rate <= 0) return undefined;
    return Math.max(0, (this.totalBytes - this.bytesDone) / rate);
  }

  /** The counts and estimates as data; `done`: the phase has ended. */
  figures(done: boolean): ProgressFigures {
    const pct = done ? 100 : this.percent();
    const eta = done ? 0 : this.etaSeconds();
    return {
      files_done: this.filesDone,
      files_total: this.totalFiles ?? null,
      bytes_done: this.bytesDone,
      bytes_processed_unchanged: this.bytesReused,
      bytes_total: this.totalBytes ?? null,
      total_is_estimate: this.totalBytes !== undefined && !this.totalFinal,
      percent: pct === undefined ? null : Math.round(pct * 10) / 10,
      eta_seconds: eta === undefined ? null : Math.round(eta),
      elapsed_seconds: Math.round(this.elapsedSeconds() * 10) / 10,
    };
  }
}
