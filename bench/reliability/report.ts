/**
 * @module bench/reliability/report
 * Results of the reliability bench (bench/reliability/run.ts) and the tables it prints.
 */

/** One killed backup or prune and what was found after it. */
export interface KillRecord {
  /** The source whose backup was killed, or `prune`. */
  target: string;
  delayMs: number;
  /** `completed`: the command ended (exit 0) before the kill; `failed`: it failed on its own. */
  outcome: 'killed' | 'completed' | 'failed';
  /** Where it stopped, judged from what it left in the repository. */
  phase: string;
  /** Temp files (unfinished writes) left in the repository. */
  tempFiles: number;
  /** `check --read-data` exited 0. */
  checkOk: boolean;
  /** Snapshots listed before the kill and missing after it. */
  lost: number;
  /** The killed backup had written its snapshot (a whole one: it restores identically). */
  committed?: boolean;
  restores: number;
  restoresIdentical: number;
  /** The next backup succeeded without `unlock`. */
  nextBackupOk: boolean;
}

/** One flipped byte and what `check --read-data` and restores made of it. */
export interface FlipRecord {
  kind: string;
  file: string;
  offset: number;
  size: number;
  /** For packs: in the blobs or in the header. */
  where: string;
  /** `check --read-data` exited non-zero. */
  detected: boolean;
  /** Its output names the damaged file. */
  named: boolean;
  checkLine: string;
  restoresFailed: number;
  restoresIdentical: number;
  /** Restores that exited 0 with content other than the source's: must be 0. */
  restoresWrong: number;
}

export interface Finding {
  phase: string;
  what: string;
  detail: string;
  /** A copy of the repository as found. */
  repository?: string;
}

export interface ReliabilityResult {
  seed: string;
  files: { size: number; state: string };
  sqlite: { rows: number };
  /** Median milliseconds until the lock appears and until the end, measured before the kills. */
  typical: Record<string, { lockMs: number; totalMs: number }>;
  backupKills: KillRecord[];
  pruneKills: KillRecord[];
  flips: FlipRecord[];
  restores: { compared: number; identical: number };
  findings: Finding[];
  seconds: number;
  machine: { cpus: number; uptimeStart: string; uptimeEnd: string; loadStart: number; loadEnd: number };
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

function tally(values: string[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function killRows(label: string, kills: KillRecord[]): string[][] {
  const n = kills.length;
  const sum = (f: (k: KillRecord) => number) => kills.reduce((s, k) => s + f(k), 0);
  return [
    [label, String(kills.filter((k) => k.outcome === 'killed').length)],
    ['  runs started to be killed', String(n)],
    ['  ended before the kill', String(kills.filter((k) => k.outcome === 'completed').length)],
    ['  failed on their own', String(kills.filter((k) => k.outcome === 'failed').length)],
    ['  broken repositories (check --read-data not 0)', String(kills.filter((k) => !k.checkOk).length)],
    ['  snapshots lost', String(sum((k) => k.lost))],
    ['  restores compared byte for byte', String(sum((k) => k.restores))],
    ['  restores identical', String(sum((k) => k.restoresIdentical))],
    ['  next backup blocked or failed', String(kills.filter((k) => !k.nextBackupOk).length)],
    [
      '  killed after writing their snapshot',
      String(kills.filter((k) => k.committed && k.outcome === 'killed').length),
    ],
    ['  temp files left, total', String(sum((k) => k.tempFiles))],
  ];
}

export function formatReliabilityReport(r: ReliabilityResult): string {
  const lines: string[] = [];
  lines.push(`Seed ${JSON.stringify(r.seed)}; ${r.seconds} s in all`);
  lines.push(
    `Sources: files (${r.files.state} at the end), SQLite (${r.sqlite.rows} rows of 8-48 KiB); ` +
      `typical durations: ${Object.entries(r.typical)
        .map(([k, v]) => `${k} ${v.totalMs} ms (lock at ${v.lockMs} ms)`)
        .join(', ')}`,
  );
  lines.push(
    `Machine: ${r.machine.cpus} CPUs; at start: ${r.machine.uptimeStart}; at end: ${r.machine.uptimeEnd}`,
  );
  lines.push('');
  lines.push(
    ...table([
      ['kills', 'count'],
      ...killRows('backups killed (SIGKILL) before they ended', r.backupKills),
      ...killRows('prunes killed (SIGKILL) before they ended', r.pruneKills),
    ]),
  );
  for (const [label, kills] of [
    ['Where the backups were killed', r.backupKills],
    ['Where the prunes were killed', r.pruneKills],
  ] as const) {
    lines.push('', `${label}:`);
    for (const [phase, count] of tally(kills.map((k) => `${k.target}: ${k.phase}`))) {
      lines.push(`  ${String(count).padStart(3)}  ${phase}`);
    }
  }

  lines.push('');
  const kinds = [...new Set(r.flips.map((f) => f.kind))];
  const flipRow = (label: string, flips: FlipRecord[]) => {
    const sum = (f: (x: FlipRecord) => number) => flips.reduce((s, x) => s + f(x), 0);
    return [
      label,
      String(flips.length),
      String(flips.filter((f) => f.detected).length),
      String(flips.filter((f) => f.named).length),
      String(sum((f) => f.restoresFailed)),
      String(sum((f) => f.restoresIdentical)),
      String(sum((f) => f.restoresWrong)),
    ];
  };
  lines.push(
    ...table([
      [
        'flipped byte in',
        'flips',
        'detected',
        'file named',
        'restore failed',
        'exit 0 identical',
        'exit 0 wrong',
      ],
      ...kinds.map((k) =>
        flipRow(
          k,
          r.flips.filter((f) => f.kind === k),
        ),
      ),
      flipRow('all', r.flips),
    ]),
  );
  const packs = r.flips.filter((f) => f.kind === 'pack');
  if (packs.length > 0) {
    lines.push(
      `pack flips: ${packs.filter((f) => f.where === 'blob').length} in a blob, ` +
        `${packs.filter((f) => f.where === 'header').length} in the header`,
    );
  }
  lines.push('', 'check --read-data on each flip (first line):');
  for (const f of r.flips) lines.push(`  ${f.file} @${f.offset}/${f.size}: ${f.checkLine}`);

  lines.push('', `Restores compared in all: ${r.restores.compared}, identical: ${r.restores.identical}`);
  lines.push('', r.findings.length === 0 ? 'Findings: none' : `Findings: ${r.findings.length}`);
  for (const f of r.findings) {
    lines.push(`- ${f.phase}: ${f.what}${f.repository ? ` (repository kept at ${f.repository})` : ''}`);
    if (f.detail) lines.push(...f.detail.split('\n').map((l) => `    ${l}`));
  }
  return lines.join('\n');
}
