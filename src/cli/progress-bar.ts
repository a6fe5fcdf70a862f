/**
 * @module cli/progress-bar
 * Progress renderers: on a terminal a bar with files and bytes done of the total, percentage,
 * rate and ETA; with `--json`, one JSON line on stderr per phase start, per second of work and
 * per phase end; nothing otherwise. Data not read again (unchanged files) is "processed".
 */
import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';
import { formatBytes } from '../byte-size.js';
import type { Progress, ProgressDetail, ProgressTotals } from '../progress.js';
import { ProgressTally, silentProgress } from '../progress.js';

/** 75 -> "1m15s", 4000 -> "1h06m". */
export function formatSeconds(s: number): string {
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/** The line the bar shows after the label: the same words the summary uses. */
export function progressLine(t: ProgressTally, width = 30): string {
  const pct = t.percent();
  const parts: string[] = [];
  if (pct !== undefined) {
    const filled = Math.min(width, Math.round((pct / 100) * width));
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}%`);
  }
  if (t.filesDone > 0 || t.totalFiles !== undefined) {
    parts.push(`${t.filesDone}${t.totalFiles !== undefined ? ` / ${t.totalFiles}` : ''} files`);
  }
  const of = t.totalBytes ? ` / ${t.totalFinal ? '' : '~'}${formatBytes(t.totalBytes)}` : '';
  parts.push(`${formatBytes(t.bytesDone)}${of}`);
  if (t.bytesReused > 0) parts.push(`(${formatBytes(t.bytesReused)} unchanged, processed without reading)`);
  parts.push(`${formatBytes(t.rate())}/s`);
  const eta = t.etaSeconds();
  if (eta !== undefined) parts.push(`ETA ${formatSeconds(eta)}`);
  return parts.join('  ');
}

/** cli-progress, loaded when a bar is first drawn: most runs (scripts, agents) draw none. */
let bars: typeof cliProgress | undefined;
const loadBars = () => {
  bars ??= createRequire(import.meta.url)('cli-progress') as typeof cliProgress;
  return bars;
};

class TerminalProgress implements Progress {
  private bar: cliProgress.SingleBar | undefined;
  private readonly tally = new ProgressTally();

  start(label: string, totalBytes?: number): void {
    this.done();
    this.tally.start(label, totalBytes);
    const { SingleBar, Presets } = loadBars();
    this.bar = new SingleBar(
      {
        format: (options, _params, payload) =>
          `${payload.label} ${progressLine(this.tally, options.barsize ?? 30)}`,
        hideCursor: true,
        clearOnComplete: true,
        stream: process.stderr,
        fps: 5,
      },
      Presets.shades_classic,
    );
    this.bar.start(totalBytes ?? 0, 0, { label });
  }

  total(totals: ProgressTotals): void {
    this.tally.total(totals);
  }

  advance(bytes: number, detail?: ProgressDetail): void {
    this.tally.advance(bytes, detail);
    // The line is drawn from the tally; the bar's own value only makes it redraw.
    this.bar?.update(this.tally.bytesDone);
  }

  done(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** Milliseconds between two progress lines of one phase under --json. */
const JSON_INTERVAL_MS = 1000;

/** `--json`: progress as JSON lines on stderr (stdout keeps the one result document). */
export class JsonProgress implements Progress {
  private readonly tally: ProgressTally;
  private lastLine = 0;
  private active = false;

  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
    private readonly now: () => number = Date.now,
  ) {
    this.tally = new ProgressTally(now);
  }

  start(label: string, totalBytes?: number): void {
    this.done();
    this.tally.start(label, totalBytes);
    this.active = true;
    this.emit(false);
  }

  total(totals: ProgressTotals): void {
    this.tally.total(totals);
  }

  advance(bytes: number, detail?: ProgressDetail): void {
    this.tally.advance(bytes, detail);
    if (this.now() - this.lastLine >= JSON_INTERVAL_MS) this.emit(false);
  }

  done(): void {
    if (!this.active) return;
    this.active = false;
    this.emit(true);
  }

  private emit(done: boolean): void {
    this.lastLine = this.now();
    this.write(
      JSON.stringify({ type: 'progress', phase: this.tally.label, done, ...this.tally.figures(done) }),
    );
  }
}

/**
 * A bar when stderr is a terminal, JSON lines with --json, silence with --quiet or when
 * nothing reads them.
 */
export function progressFor(options: { json?: boolean; quiet?: boolean }): Progress {
  if (options.quiet) return silentProgress;
  if (options.json) return new JsonProgress();
  if (!process.stderr.isTTY) return silentProgress;
  return new TerminalProgress();
}
