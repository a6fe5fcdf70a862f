/**
 * @module cli/progress-bar
 * Progress renderers: a bar with bytes, rate and ETA on a terminal; nothing otherwise.
 */
import { createRequire } from 'node:module';
import type cliProgress from 'cli-progress';
import { formatBytes } from '../byte-size.js';
import type { Progress } from '../progress.js';
import { silentProgress } from '../progress.js';

/** cli-progress, loaded when a bar is first drawn: most runs (scripts, agents) draw none. */
let bars: typeof cliProgress | undefined;
const loadBars = () => {
  bars ??= createRequire(import.meta.url)('cli-progress') as typeof cliProgress;
  return bars;
};

class TerminalProgress implements Progress {
  private bar: cliProgress.SingleBar | undefined;
  private value = 0;
  private started = 0;

  start(label: string, totalBytes?: number): void {
    this.done();
    this.value = 0;
    this.started = Date.now();
    const { SingleBar, Presets } = loadBars();
    this.bar = new SingleBar(
      {
        format: (options, params, payload) => {
          const elapsed = (Date.now() - this.started) / 1000;
          const rate = elapsed > 0 ? this.value / elapsed : 0;
          const known = params.total > 0;
          const eta = known && rate > 0 ? Math.max(0, (params.total - this.value) / rate) : undefined;
          const width = options.barsize ?? 30;
          const filled = known ? Math.min(width, Math.round((this.value / params.total) * width)) : 0;
          const bar = known ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
          const total = known ? ` / ${formatBytes(params.total)}` : '';
          const etaText = eta === undefined ? '' : `  ETA ${Math.round(eta)}s`;
          return `${payload.label} ${bar}${formatBytes(this.value)}${total}  ${formatBytes(rate)}/s${etaText}`;
        },
        hideCursor: true,
        clearOnComplete: true,
        stream: process.stderr,
        fps: 5,
      },
      Presets.shades_classic,
    );
    this.bar.start(totalBytes ?? 0, 0, { label });
  }

  advance(bytes: number): void {
    this.value += bytes;
    this.bar?.update(Math.min(this.value, this.bar.getTotal() || this.value));
  }

  done(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** A bar when stderr is a terminal and output is not JSON; silence otherwise. */
export function progressFor(options: { json?: boolean; quiet?: boolean }): Progress {
  if (options.json || options.quiet || !process.stderr.isTTY) return silentProgress;
  return new TerminalProgress();
}
