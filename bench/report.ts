/**
 * @module bench/report
 * Results of a bench run, their medians, and the text tables printed at the end.
 */
import { median, type Sample } from './measure.js';

export interface RepoSize {
  /** `du -sB1`: bytes of allocated blocks. */
  allocated: number;
  /** `du -sb`: apparent bytes. */
  apparent: number;
}

/** One run of one tool on a fresh repository. */
export interface RunResult {
  firstBackup: Sample;
  repoAfterFirst: RepoSize;
  incremental: Sample;
  repoAfterIncremental: RepoSize;
  restore: Sample;
}

export interface ToolResult {
  tool: string;
  version?: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed: the exact error output. */
  error?: string;
  runs: RunResult[];
  median?: RunResult;
}

export interface BenchResult {
  tree: {
    bytes: number;
    files: number;
    dirs: number;
    textBytes: number;
    randomBytes: number;
    nextDay: { bytesChanged: number; bytesDeleted: number; counts: Record<string, number>; files: number };
  };
  runs: number;
  seed: string;
  cacheDropped: boolean;
  generateSeconds: number;
  /**
   * 1-minute load average when the measurements started and ended, the CPU count, and whether
   * a CPU-bound process ran beside every step (`--loaded`).
   */
  load: { start: number; end: number; cpus: number; busyProcess?: boolean };
  tools: ToolResult[];
}

function medianSample(samples: Sample[]): Sample {
  return {
    wall: median(samples.map((s) => s.wall)),
    user: median(samples.map((s) => s.user)),
    sys: median(samples.map((s) => s.sys)),
    maxRss: median(samples.map((s) => s.maxRss)),
  };
}

function medianSize(sizes: RepoSize[]): RepoSize {
  return { allocated: median(sizes.map((s) => s.allocated)), apparent: median(sizes.map((s) => s.apparent)) };
}

/** The per-field median of several runs. */
export function medianRun(runs: RunResult[]): RunResult {
  return {
    firstBackup: medianSample(runs.map((r) => r.firstBackup)),
    repoAfterFirst: medianSize(runs.map((r) => r.repoAfterFirst)),
    incremental: medianSample(runs.map((r) => r.incremental)),
    repoAfterIncremental: medianSize(runs.map((r) => r.repoAfterIncremental)),
    restore: medianSample(runs.map((r) => r.restore)),
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;

interface Row {
  group: string;
  label: string;
  value: (r: RunResult) => number;
  format: (v: number) => string;
}

export function formatReport(result: BenchResult): string {
  const { tree } = result;
  const lines: string[] = [];
  const nd = tree.nextDay;
  lines.push(
    `Tree: ${formatBytes(tree.bytes)} (${tree.bytes} bytes) in ${tree.files} files, ${tree.dirs} folders; ` +
      `${pct(tree.textBytes, tree.bytes)} text, ${pct(tree.randomBytes, tree.bytes)} random; seed ${JSON.stringify(result.seed)}`,
  );
  lines.push(
    `Next day: ${formatBytes(nd.bytesChanged)} written (${pct(nd.bytesChanged, tree.bytes)}): ` +
      `${nd.counts.overwrite} files overwritten in the middle, ${nd.counts.append} appended, ${nd.counts.create} new, ` +
      `${nd.counts.delete} deleted (${formatBytes(nd.bytesDeleted)}); ${nd.files} files after`,
  );
  lines.push(
    `Runs: ${result.runs} per tool on fresh repositories, median shown; page cache dropped before each step: ${result.cacheDropped ? 'yes' : 'no (not permitted)'}`,
  );
  lines.push(
    `Machine: ${result.load.cpus} CPUs, 1-minute load average ${result.load.start.toFixed(2)} at start, ${result.load.end.toFixed(2)} at end${result.load.busyProcess ? '; a CPU-bound process ran beside every step' : ''}`,
  );
  for (const t of result.tools) {
    if (t.status === 'skipped') lines.push(`${t.tool}: SKIPPED (${t.error})`);
    else if (t.version) lines.push(`${t.tool}: ${t.version}`);
  }

  const ok = result.tools.filter((t) => t.status === 'ok' && t.median);
  const seconds = (v: number) => `${v.toFixed(2)} s`;
  const rows: Row[] = [];
  const step = (group: string, pick: (r: RunResult) => Sample, bytes: number) => {
    rows.push({ group, label: 'time', value: (r) => pick(r).wall, format: seconds });
    rows.push({
      group,
      label: 'throughput',
      value: (r) => bytes / pick(r).wall,
      format: (v) => `${formatBytes(v)}/s`,
    });
    rows.push({ group, label: 'CPU user+sys', value: (r) => pick(r).user + pick(r).sys, format: seconds });
    rows.push({ group, label: 'peak RSS', value: (r) => pick(r).maxRss, format: formatBytes });
  };
  const treeAfter = tree.bytes + nd.bytesChanged - nd.bytesDeleted;
  step('first backup', (r) => r.firstBackup, tree.bytes);
  step('incremental backup', (r) => r.incremental, treeAfter);
  step('restore (latest)', (r) => r.restore, treeAfter);
  rows.push({
    group: 'repository size',
    label: 'after first',
    value: (r) => r.repoAfterFirst.allocated,
    format: formatBytes,
  });
  rows.push({
    group: 'repository size',
    label: 'after incremental',
    value: (r) => r.repoAfterIncremental.allocated,
    format: formatBytes,
  });
  rows.push({
    group: 'repository size',
    label: 'incremental growth',
    value: (r) => r.repoAfterIncremental.allocated - r.repoAfterFirst.allocated,
    format: formatBytes,
  });
  rows.push({
    group: 'repository size',
    label: '% of tree (du)',
    value: (r) => (100 * r.repoAfterIncremental.allocated) / treeAfter,
    format: (v) => `${v.toFixed(1)}%`,
  });

  if (ok.length > 0) {
    const header = ['measurement', '', ...ok.map((t) => t.tool)];
    const lifeboatIndex = ok.findIndex((t) => t.tool === 'lifeboat');
    const resticIndex = ok.findIndex((t) => t.tool === 'restic');
    const ratio = lifeboatIndex >= 0 && resticIndex >= 0;
    if (ratio) header.push('lifeboat/restic');
    const table: string[][] = [header];
    let lastGroup = '';
    for (const row of rows) {
      const values = ok.map((t) => row.value(t.median!));
      const cells = [row.group === lastGroup ? '' : row.group, row.label, ...values.map(row.format)];
      if (ratio) {
        const r = values[lifeboatIndex] / values[resticIndex];
        // For throughput higher is better: show the ratio of times instead, so < 1 is always better.
        const shown = row.label === 'throughput' ? 1 / r : r;
        cells.push(Number.isFinite(shown) ? shown.toFixed(2) : '-');
      }
      if (row.group !== lastGroup && table.length > 1) table.push([]);
      lastGroup = row.group;
      table.push(cells);
    }
    const widths = header.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
    lines.push('');
    for (const r of table) {
      if (r.length === 0) {
        lines.push('');
        continue;
      }
      lines.push(
        r
          .map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
          .join('  ')
          .trimEnd(),
      );
    }
    if (ratio)
      lines.push('', 'lifeboat/restic: below 1 is better for lifeboat (throughput: ratio of times).');
  }
  for (const t of result.tools) {
    if (t.status === 'failed') lines.push('', `${t.tool}: FAILED`, t.error ?? '');
  }
  return lines.join('\n');
}
