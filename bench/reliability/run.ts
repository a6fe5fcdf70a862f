/**
 * @module bench/reliability/run
 * `node dist/bench/reliability/run.js [--backup-kills 100] [--prune-kills 20] [--flips 30]
 *   [--seed S] [--size 32MiB] [--rows 200] [--workdir DIR] [--keep] [--json]`
 *
 * Crash and damage figures (docs/reliability.md), through the real CLI on a local repository,
 * with a folder of files and a SQLite database that change between backups:
 *  - backups killed with SIGKILL after a random delay within their measured duration, each
 *    followed by `check --read-data`, a restore of every listed snapshot compared with the
 *    source as it was when that snapshot was taken, and the next backup (no `unlock`);
 *  - prunes with work to do (snapshots forgotten first), killed and checked the same way;
 *  - single-byte flips in config, keys, index files, snapshots and packs of a good
 *    repository: `check --read-data` must fail, and no restore may exit 0 with other data.
 * Anything else is counted as a finding, with what reproduces it; the run goes on.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { type CliResult, repoEnv, runCli, startCli } from '../../test/helpers/cli.js';
import {
  collect,
  flipByte,
  type RepoFile,
  repoFiles,
  tempFiles,
  watchRepo,
} from '../../test/helpers/repo-files.js';
import { median } from '../measure.js';
import { parseSize, UsageError } from '../options.js';
import { Rng } from '../tree-gen.js';
import {
  type Finding,
  type FlipRecord,
  formatReliabilityReport,
  type KillRecord,
  type ReliabilityResult,
} from './report.js';
import { FilesSource, type SourceState, type SourceUnderTest, SqliteSource } from './sources.js';

const log = (message: string) => process.stderr.write(`[reliability] ${message}\n`);

const USAGE = `usage: node dist/bench/reliability/run.js [options]
  --backup-kills N  backups killed with SIGKILL (default 100)
  --prune-kills N   prunes killed with SIGKILL (default 20)
  --flips N         single-byte flips in repository files (default 30)
  --seed S          seed of the data, the delays and the flips (default: random, printed)
  --size SIZE       size of the files source (default 32MiB)
  --rows N          rows of the SQLite source, 8-48 KiB each (default 200)
  --workdir DIR     parent of the temporary work folder (default: the OS temp folder)
  --keep            keep the work folder afterwards
  --json            print the results as JSON`;

interface Options {
  backupKills: number;
  pruneKills: number;
  flips: number;
  seed: string;
  size: number;
  rows: number;
  workdir: string;
  keep: boolean;
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    backupKills: 100,
    pruneKills: 20,
    flips: 30,
    seed: randomBytes(6).toString('hex'),
    size: 32 * 1024 * 1024,
    rows: 200,
    workdir: process.env.TMPDIR || '/tmp',
    keep: false,
    json: false,
  };
  const count = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || !Number.isInteger(n) || n < 0) throw new UsageError(`${name} needs a count`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = () => argv[++i];
    if (name === '--backup-kills') options.backupKills = count(name, value());
    else if (name === '--prune-kills') options.pruneKills = count(name, value());
    else if (name === '--flips') options.flips = count(name, value());
    else if (name === '--rows') options.rows = Math.max(1, count(name, value()));
    else if (name === '--seed') options.seed = value() ?? options.seed;
    else if (name === '--size') options.size = parseSize(value() ?? '');
    else if (name === '--workdir') options.workdir = value() ?? options.workdir;
    else if (name === '--keep') options.keep = true;
    else if (name === '--json') options.json = true;
    else throw new UsageError(name === '-h' || name === '--help' ? '' : `unknown argument: ${name}`);
  }
  return options;
}

const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';
const elapsedMs = (t0: number) => Math.round(performance.now() - t0);

/** Runs the CLI until it ends or `delayMs` passes, then kills it with SIGKILL. */
async function killAfter(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  delayMs: number,
): Promise<{ result: CliResult; killed: boolean; ms: number }> {
  const t0 = performance.now();
  const child = startCli(args, env, cwd);
  const done = collect(child);
  let killed = false;
  const timer = setTimeout(() => {
    killed = child.kill('SIGKILL');
  }, delayMs);
  const result = await done;
  clearTimeout(timer);
  return { result, killed: killed && result.signal === 'SIGKILL', ms: elapsedMs(t0) };
}

/** Milliseconds from the start of a command until its lock appears, and until it ends. */
interface Timing {
  lockMs: number;
  totalMs: number;
}

/** Runs the CLI to its end, noting when its lock appears in `repo`. */
async function timed(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  repo: string,
): Promise<{ result: CliResult; timing: Timing }> {
  let lockMs = 0;
  const t0 = performance.now();
  const stop = watchRepo(repo, (e) => {
    if (e.kind === 'lock' && lockMs === 0) lockMs = elapsedMs(t0);
  });
  try {
    const result = await collect(startCli(args, env, cwd));
    return { result, timing: { lockMs, totalMs: elapsedMs(t0) } };
  } finally {
    stop();
  }
}

function medianTiming(timings: Timing[]): Timing {
  return {
    lockMs: median(timings.map((t) => t.lockMs)),
    totalMs: median(timings.map((t) => t.totalMs)),
  };
}

/**
 * A random delay within a command's typical duration, from just before its lock appears: the
 * time before that is Node starting up and loading modules, the same for every command.
 */
function killDelay(rng: Rng, t: Timing): number {
  const from = 0.8 * t.lockMs;
  return Math.round(from + rng.float() * (t.totalMs - from));
}

/** Object names by kind, and temp files, to see where a killed command stopped. */
interface RepoListing {
  names: Map<RepoFile['kind'], Set<string>>;
  temps: string[];
}

async function listRepo(repo: string): Promise<RepoListing> {
  const names = new Map<RepoFile['kind'], Set<string>>();
  for (const f of await repoFiles(repo)) {
    if (!names.has(f.kind)) names.set(f.kind, new Set());
    names.get(f.kind)!.add(f.name);
  }
  return { names, temps: await tempFiles(repo) };
}

function added(before: RepoListing, after: RepoListing, kind: RepoFile['kind']): number {
  const was = before.names.get(kind) ?? new Set();
  return [...(after.names.get(kind) ?? [])].filter((n) => !was.has(n)).length;
}

function removed(before: RepoListing, after: RepoListing, kind: RepoFile['kind']): number {
  return added(after, before, kind);
}

/** Where a killed backup stopped, from what it left in the repository. */
function backupPhase(before: RepoListing, after: RepoListing): string {
  const temp = (dir: string) => after.temps.some((t) => t.startsWith(dir));
  if (added(before, after, 'snapshot') > 0) return 'after writing its snapshot';
  if (temp('snapshots/')) return 'while writing its snapshot';
  if (added(before, after, 'index') > 0) return 'after an index file, before the snapshot';
  if (temp('index/')) return 'while writing an index file';
  if (temp('data/')) return 'while writing a pack';
  if (added(before, after, 'pack') > 0) return 'after writing packs, before their index';
  if (added(before, after, 'lock') > 0) return 'after taking its lock, before any pack';
  return 'before taking its lock (starting up)';
}

/** Where a killed prune stopped (format.md, write order rule 5). */
function prunePhase(before: RepoListing, after: RepoListing): string {
  if (removed(before, after, 'pack') > 0) return 'while deleting dropped packs';
  if (removed(before, after, 'index') > 0) return 'while removing the old index files';
  if (added(before, after, 'index') > 0) return 'after writing the new index';
  if (added(before, after, 'pack') > 0 || after.temps.some((t) => t.startsWith('data/')))
    return 'while repacking';
  // Marking reads snapshots and trees; repacking fills a pack in memory before writing it.
  if (added(before, after, 'lock') > 0) return 'after taking its lock, before writing anything';
  return 'before taking its lock (starting up)';
}

/** The byte range of a pack's blobs: everything before the sealed header and its length. */
function blobRegionEnd(path: string): number {
  const bytes = readFileSync(path);
  return bytes.length - 4 - bytes.readUInt32LE(bytes.length - 4);
}

class ReliabilityBench {
  readonly repo: string;
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  readonly rng: Rng;
  readonly files: FilesSource;
  readonly sqlite: SqliteSource;
  /** Snapshot id → the state of its source when it was taken. */
  readonly expected = new Map<string, { source: SourceUnderTest; state: SourceState }>();
  readonly findings: Finding[] = [];
  /**
   * Measured first, per source's backup and for prune: the median time until its lock appears
   * (starting up) and until it ends.
   */
  readonly typical: Record<string, Timing> = {};
  /**
   * The last few unkilled backups of each source, whose median is the duration kills aim at
   * (the machine's load changes; a stale measurement would let many backups end first).
   */
  private readonly recent: Record<string, Timing[]> = {};
  restores = { compared: 0, identical: 0 };
  /** The snapshots in the repository, as of the last `forget`. */
  listed: string[] = [];
  private restoreCount = 0;

  constructor(
    readonly work: string,
    readonly options: Options,
  ) {
    this.repo = join(work, 'repo');
    this.home = join(work, 'home');
    mkdirSync(this.home);
    // HOME and the working folder point at an empty folder: no config file, no cache shared.
    this.env = repoEnv(this.repo, { HOME: this.home });
    this.rng = new Rng(`${options.seed}/reliability`);
    this.files = new FilesSource(join(work, 'files'), options.size);
    this.sqlite = new SqliteSource(join(work, 'app.db'), options.rows);
  }

  cli(args: string[]): Promise<CliResult> {
    return runCli(args, this.env, { cwd: this.home });
  }

  finding(phase: string, what: string, detail: string): void {
    const n = this.findings.length + 1;
    let kept: string | undefined;
    if (n <= 5) {
      // A copy of the repository as it was found, for the reproduction.
      kept = join(this.options.workdir, `lifeboat-reliability-finding-${process.pid}-${n}`);
      execFileSync('cp', ['-a', this.repo, kept]);
    }
    this.findings.push({ phase, what, detail: detail.slice(0, 2000), repository: kept });
    log(`FINDING (${phase}): ${what}\n${detail.slice(0, 2000)}${kept ? `\nrepository kept at ${kept}` : ''}`);
  }

  /** Backs up `source` (must succeed); returns the snapshot id, or null after a finding. */
  async backup(source: SourceUnderTest, state: SourceState, phase: string): Promise<string | null> {
    return (await this.timedBackup(source, state, phase)).id;
  }

  async timedBackup(
    source: SourceUnderTest,
    state: SourceState,
    phase: string,
  ): Promise<{ id: string | null; timing: Timing }> {
    const { result: r, timing } = await timed(
      ['backup', ...source.backupArgs, '--json'],
      this.env,
      this.home,
      this.repo,
    );
    if (r.code !== 0) {
      const blocked = /lock/i.test(r.stderr);
      this.finding(
        phase,
        blocked
          ? `the next backup of ${source.name} is blocked by a lock`
          : `a backup of ${source.name} failed`,
        `exit ${r.code}: ${r.stderr}`,
      );
      return { id: null, timing };
    }
    const id = (JSON.parse(r.stdout) as { snapshots: string[] }[])[0].snapshots[0];
    this.expected.set(id, { source, state });
    return { id, timing };
  }

  async snapshotIds(phase: string): Promise<string[] | null> {
    const r = await this.cli(['snapshots', '--json']);
    if (r.code !== 0) {
      this.finding(phase, '`snapshots` fails', `exit ${r.code}: ${r.stderr}`);
      return null;
    }
    return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id);
  }

  /** Restores snapshot `id` to a fresh folder; its differences from the expected state, or the failed run. */
  async restore(id: string): Promise<{ result: CliResult; diffs: string[] }> {
    const known = this.expected.get(id);
    const dir = join(this.work, `restore-${this.restoreCount++}`);
    mkdirSync(dir);
    try {
      const target = known ? known.source.restoreTarget(dir) : join(dir, 'unknown');
      const result = await this.cli(['restore', id, '--to', target]);
      if (result.code !== 0 || !known) return { result, diffs: [] };
      try {
        return { result, diffs: known.state.diff(target) };
      } catch (e) {
        return { result, diffs: [`cannot read the restore: ${e instanceof Error ? e.message : String(e)}`] };
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** `check --read-data`; a finding unless it exits 0. */
  async check(phase: string): Promise<boolean> {
    const r = await this.cli(['check', '--read-data']);
    if (r.code !== 0)
      this.finding(phase, '`check --read-data` fails', `exit ${r.code}:\n${r.stdout}${r.stderr}`);
    return r.code === 0;
  }

  /**
   * After a kill: check, then no snapshot listed before is missing, any new one is of the
   * killed backup's source (it committed), and every listed snapshot restores identically.
   */
  async verifyAfterKill(
    phase: string,
    before: string[],
    committed: { source: SourceUnderTest; state: SourceState } | undefined,
    record: KillRecord,
  ): Promise<void> {
    record.checkOk = await this.check(phase);
    const after = (await this.snapshotIds(phase)) ?? [];
    const listed = new Set(after);
    const lost = before.filter((id) => !listed.has(id));
    record.lost = lost.length;
    if (lost.length > 0) this.finding(phase, `${lost.length} snapshots lost`, lost.join('\n'));
    for (const id of after) {
      if (before.includes(id) || this.expected.has(id)) continue;
      if (committed) {
        this.expected.set(id, committed);
        record.committed = true;
      } else this.finding(phase, `an unexpected snapshot ${id} appeared`, '');
    }
    record.restores = 0;
    record.restoresIdentical = 0;
    for (const id of after) {
      const { result, diffs } = await this.restore(id);
      record.restores++;
      this.restores.compared++;
      if (result.code !== 0) {
        this.finding(
          phase,
          `restore of snapshot ${id.slice(0, 8)} fails`,
          `exit ${result.code}: ${result.stderr}`,
        );
      } else if (diffs.length > 0) {
        this.finding(
          phase,
          `restore of snapshot ${id.slice(0, 8)} differs from its source`,
          diffs.join('\n'),
        );
      } else {
        record.restoresIdentical++;
        this.restores.identical++;
      }
    }
  }

  async setup(): Promise<void> {
    log(`seed ${this.options.seed}; work folder ${this.work}`);
    this.files.create(this.rng);
    this.sqlite.create(this.rng);
    const init = await this.cli(['init']);
    if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
    for (const source of [this.files, this.sqlite]) {
      await this.backup(source, source.state(), 'setup');
      // Measure the backup to kill: a change, then an unkilled backup, three times.
      const timings: Timing[] = [];
      for (let i = 0; i < 3; i++) {
        source.change(this.rng);
        timings.push((await this.timedBackup(source, source.state(), 'setup')).timing);
      }
      this.recent[source.name] = timings;
      this.typical[source.name] = medianTiming(timings);
      log(
        `${source.name}: ${source.state().summary}; a backup after a change takes ` +
          timings.map((t) => `${t.totalMs} ms (lock at ${t.lockMs} ms)`).join(', '),
      );
    }
    // Measure a prune with work to do.
    const timings: Timing[] = [];
    for (let i = 0; i < 3; i++) {
      await this.prepareWorkForPrune('setup');
      const { result, timing } = await timed(['prune', '--json'], this.env, this.home, this.repo);
      if (result.code !== 0) throw new Error(`prune failed: ${result.stderr}`);
      timings.push(timing);
      log(`prune in ${timing.totalMs} ms (lock at ${timing.lockMs} ms): ${result.stdout.trim()}`);
    }
    this.recent.prune = timings;
    this.typical.prune = medianTiming(timings);
  }

  /** A new state of each source backed up, then all but the newest 2 of each forgotten. */
  async prepareWorkForPrune(phase: string): Promise<void> {
    for (const source of [this.files, this.sqlite]) {
      source.change(this.rng);
      await this.backup(source, source.state(), phase);
    }
    await this.forget(phase);
  }

  /**
   * Forgets all but the newest 2 snapshots of each source (few restores after each kill); what
   * it keeps is the list of snapshots the next kill must not lose.
   */
  async forget(phase: string): Promise<void> {
    const forget = await this.cli(['forget', '--keep-last', '2', '--json']);
    if (forget.code !== 0) {
      this.finding(phase, '`forget` fails', `exit ${forget.code}: ${forget.stderr}`);
      this.listed = (await this.snapshotIds(phase)) ?? [];
      return;
    }
    const groups = JSON.parse(forget.stdout) as { keep: { id: string }[] }[];
    this.listed = groups.flatMap((g) => g.keep.map((k) => k.id));
  }

  async backupKill(i: number): Promise<KillRecord> {
    const phase = `backup run ${i + 1}`;
    // One kill in four is of the SQLite backup.
    const source = i % 4 === 3 ? this.sqlite : this.files;
    source.change(this.rng);
    const state = source.state();
    const before = this.listed;
    const repoBefore = await listRepo(this.repo);
    const delayMs = killDelay(this.rng, this.typical[source.name]);
    const run = await killAfter(['backup', ...source.backupArgs, '--json'], this.env, this.home, delayMs);
    const repoAfter = await listRepo(this.repo);
    const record: KillRecord = {
      target: source.name,
      delayMs,
      outcome: run.killed ? 'killed' : run.result.code === 0 ? 'completed' : 'failed',
      phase: run.killed ? backupPhase(repoBefore, repoAfter) : 'completed before the kill',
      tempFiles: repoAfter.temps.length,
      checkOk: false,
      lost: 0,
      restores: 0,
      restoresIdentical: 0,
      nextBackupOk: false,
    };
    if (record.outcome === 'failed') {
      this.finding(phase, `the backup failed on its own`, `exit ${run.result.code}: ${run.result.stderr}`);
    }
    await this.verifyAfterKill(phase, before, { source, state }, record);
    // The next backup of the same state must go through without `unlock`.
    const next = await this.timedBackup(source, state, phase);
    record.nextBackupOk = next.id !== null;
    if (next.id) {
      const recent = [...this.recent[source.name], next.timing].slice(-5);
      this.recent[source.name] = recent;
      this.typical[source.name] = medianTiming(recent);
    }
    await this.forget(phase);
    log(
      `${phase} (${source.name}, ${delayMs} ms): ${record.outcome}, ${record.phase}; ` +
        `check ${record.checkOk ? 'ok' : 'FAILED'}; ${record.restoresIdentical}/${record.restores} restores identical; ` +
        `next backup ${record.nextBackupOk ? 'ok' : 'FAILED'}`,
    );
    return record;
  }

  async pruneKill(j: number): Promise<KillRecord> {
    const phase = `prune run ${j + 1}`;
    await this.prepareWorkForPrune(phase);
    const before = this.listed;
    const repoBefore = await listRepo(this.repo);
    const delayMs = killDelay(this.rng, this.typical.prune);
    const run = await killAfter(['prune'], this.env, this.home, delayMs);
    if (run.result.code === 0) {
      // It ended before the kill: prunes have become faster than measured; aim at this one.
      const recent = [...this.recent.prune, { lockMs: this.typical.prune.lockMs, totalMs: run.ms }].slice(-5);
      this.recent.prune = recent;
      this.typical.prune = medianTiming(recent);
    }
    const repoAfter = await listRepo(this.repo);
    const record: KillRecord = {
      target: 'prune',
      delayMs,
      outcome: run.killed ? 'killed' : run.result.code === 0 ? 'completed' : 'failed',
      phase: run.killed ? prunePhase(repoBefore, repoAfter) : 'completed before the kill',
      tempFiles: repoAfter.temps.length,
      checkOk: false,
      lost: 0,
      restores: 0,
      restoresIdentical: 0,
      nextBackupOk: false,
    };
    if (record.outcome === 'failed') {
      this.finding(phase, `prune failed on its own`, `exit ${run.result.code}: ${run.result.stderr}`);
    }
    await this.verifyAfterKill(phase, before, undefined, record);
    const source = j % 2 === 0 ? this.files : this.sqlite;
    source.change(this.rng);
    record.nextBackupOk = (await this.backup(source, source.state(), phase)) !== null;
    log(
      `${phase} (${delayMs} ms): ${record.outcome}, ${record.phase}; ` +
        `check ${record.checkOk ? 'ok' : 'FAILED'}; ${record.restoresIdentical}/${record.restores} restores identical; ` +
        `next backup ${record.nextBackupOk ? 'ok' : 'FAILED'}`,
    );
    return record;
  }

  /** Forget and an unkilled prune, which keeps the repository small. */
  async tidy(phase: string): Promise<void> {
    await this.forget(phase);
    const prune = await this.cli(['prune']);
    if (prune.code !== 0)
      this.finding(phase, 'an unkilled `prune` fails', `exit ${prune.code}: ${prune.stderr}`);
  }

  async flip(f: number, kind: RepoFile['kind'], snapshots: string[]): Promise<FlipRecord> {
    const phase = `flip ${f + 1}`;
    const candidates = (await repoFiles(this.repo)).filter((x) => x.kind === kind);
    const file = candidates[this.rng.int(0, candidates.length)];
    const offset = this.rng.int(0, file.size);
    const path = join(this.repo, file.rel);
    const where = kind === 'pack' ? (offset < blobRegionEnd(path) ? 'blob' : 'header') : '';
    const record: FlipRecord = {
      kind,
      file: file.rel,
      offset,
      size: file.size,
      where,
      detected: false,
      named: false,
      checkLine: '',
      restoresFailed: 0,
      restoresIdentical: 0,
      restoresWrong: 0,
    };
    const unflip = await flipByte(path, offset);
    try {
      const check = await this.cli(['check', '--read-data']);
      const text = `${check.stdout}\n${check.stderr}`;
      record.detected = check.code !== 0;
      record.named =
        text.includes(file.name.slice(0, 8)) || (kind === 'config' && /config/i.test(check.stderr));
      record.checkLine = firstLine(check.code !== 0 ? check.stderr || check.stdout : check.stdout);
      if (!record.detected) {
        this.finding(phase, `a flipped byte in ${file.rel} at ${offset} is not detected`, text);
      }
      for (const id of snapshots) {
        const { result, diffs } = await this.restore(id);
        if (result.code !== 0) record.restoresFailed++;
        else if (diffs.length === 0) record.restoresIdentical++;
        else {
          record.restoresWrong++;
          this.finding(
            phase,
            `restore of ${id.slice(0, 8)} exits 0 with wrong content (byte ${offset} of ${file.rel} flipped)`,
            diffs.join('\n'),
          );
        }
      }
    } finally {
      await unflip();
    }
    log(
      `${phase}/${this.options.flips}: ${file.rel} @${offset}${where ? ` (${where})` : ''}: check ` +
        `${record.detected ? 'detects it' : 'PASSES'}; restores: ${record.restoresFailed} fail, ` +
        `${record.restoresIdentical} identical, ${record.restoresWrong} wrong`,
    );
    return record;
  }

  async flips(): Promise<FlipRecord[]> {
    const phase = 'before the flips';
    await this.tidy(phase);
    const clean = await this.cli(['check', '--read-data']);
    if (clean.code !== 0 || /warning/i.test(clean.stdout + clean.stderr)) {
      this.finding(phase, 'the repository is not clean after prune', `${clean.stdout}${clean.stderr}`);
    }
    const snapshots = (await this.snapshotIds(phase)) ?? [];
    const kinds: RepoFile['kind'][] = ['config', 'key', 'index', 'snapshot', 'pack'];
    const records: FlipRecord[] = [];
    let order = kinds;
    for (let f = 0; f < this.options.flips; f++) {
      // Each round of five hits every kind once, in a random order.
      if (f % kinds.length === 0) order = [...kinds].sort(() => this.rng.float() - 0.5);
      records.push(await this.flip(f, order[f % kinds.length], snapshots));
    }
    await this.check('after the flips (every byte put back)');
    return records;
  }
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) console.error(`bench: ${e.message}`);
    console.error(USAGE);
    return e.message ? 2 : 0;
  }
  mkdirSync(options.workdir, { recursive: true });
  const work = realpathSync(mkdtempSync(join(options.workdir, 'lifeboat-reliability-')));
  const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
  const machine = { cpus: availableParallelism(), uptimeStart: uptime(), loadStart: loadavg()[0] };
  const t0 = performance.now();
  try {
    const bench = new ReliabilityBench(work, options);
    await bench.setup();
    // Runs that end before their kill are reported but do not count: the counts are of kills
    // that landed, with at most twice as many runs.
    const killed = (records: KillRecord[]) => records.filter((k) => k.outcome === 'killed').length;
    const backupKills: KillRecord[] = [];
    for (let i = 0; killed(backupKills) < options.backupKills && i < 2 * options.backupKills; i++) {
      backupKills.push(await bench.backupKill(i));
      if ((i + 1) % 10 === 0) await bench.tidy(`after backup run ${i + 1}`);
    }
    const pruneKills: KillRecord[] = [];
    for (let j = 0; killed(pruneKills) < options.pruneKills && j < 2 * options.pruneKills; j++) {
      pruneKills.push(await bench.pruneKill(j));
    }
    const flips = await bench.flips();
    const result: ReliabilityResult = {
      seed: options.seed,
      files: { size: options.size, state: bench.files.state().summary },
      sqlite: { rows: options.rows },
      typical: bench.typical,
      backupKills,
      pruneKills,
      flips,
      restores: bench.restores,
      findings: bench.findings,
      seconds: Math.round((performance.now() - t0) / 1000),
      machine: { ...machine, uptimeEnd: uptime(), loadEnd: loadavg()[0] },
    };
    if (options.json) console.log(JSON.stringify(result, null, 2));
    else console.log(formatReliabilityReport(result));
    return result.findings.length > 0 ? 1 : 0;
  } finally {
    if (options.keep) log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exitCode = 1;
  },
);
