/**
 * @module bench/run
 * `npm run bench -- [--size 1GiB] [--runs 3] [--json] [--keep] [--workdir DIR] [--tools lifeboat,restic]`
 *
 * Generates a deterministic tree (half text, half random data, files of 1 KiB – 256 MiB in
 * nested folders) and, for each tool, on fresh repositories: a first backup, an incremental
 * backup after a "next day" change of ~2% of the bytes, a restore of the latest snapshot
 * (verified file by file with SHA-256 against the next-day tree), and the repository size.
 * Each step runs under GNU time (wall, CPU, peak RSS), with the page cache dropped before it
 * when permitted; the median of `--runs` runs is reported side by side with restic. With
 * `--loaded`, a CPU-bound process runs beside every measured step of both tools.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { checkGnuTime, compareManifests, diskUsage, dropCaches, hashTree, type Manifest } from './measure.js';
import { parseOptions, USAGE, UsageError } from './options.js';
import {
  type BenchResult,
  formatBytes,
  formatReport,
  medianRun,
  type RunResult,
  type ToolResult,
} from './report.js';
import { TOOLS, type Tool, useLifeboat } from './tools.js';
import { applyNextDay, type ChangeSet, planNextDay, planTree, writeTree } from './tree-gen.js';

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

function elapsed(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A fresh copy of the day-one tree at `tree` (cp -a keeps times and modes). */
function copyTree(base: string, tree: string): void {
  rmSync(tree, { recursive: true, force: true });
  execFileSync('cp', ['-a', base, tree]);
}

/** A process that keeps one core busy until killed (the `--loaded` case). */
function startLoad(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  child.unref();
  return child;
}

/** One run of one tool on a fresh repository; throws on any failure. */
async function runOnce(
  tool: Tool,
  work: string,
  base: string,
  changes: ChangeSet,
  seed: string,
  expected: Manifest,
  note: (cacheDropped: boolean) => void,
): Promise<RunResult> {
  const tree = join(work, 'tree');
  const place = { repo: join(work, `repo-${tool.name}`), home: join(work, `home-${tool.name}`) };
  const target = join(work, `restore-${tool.name}`);
  for (const dir of [place.repo, place.home, target]) rmSync(dir, { recursive: true, force: true });
  mkdirSync(place.home);
  try {
    copyTree(base, tree);
    tool.init(place);

    note(dropCaches());
    const firstBackup = await tool.backup(place, tree);
    const repoAfterFirst = diskUsage(place.repo);
    log(
      `  ${tool.name}: first backup ${firstBackup.wall.toFixed(2)} s, repo ${formatBytes(repoAfterFirst.allocated)}`,
    );

    applyNextDay(tree, changes, seed);
    note(dropCaches());
    const incremental = await tool.backup(place, tree);
    const repoAfterIncremental = diskUsage(place.repo);
    log(
      `  ${tool.name}: incremental ${incremental.wall.toFixed(2)} s, repo ${formatBytes(repoAfterIncremental.allocated)}`,
    );

    mkdirSync(target);
    note(dropCaches());
    const restore = await tool.restore(place, target);
    log(`  ${tool.name}: restore ${restore.wall.toFixed(2)} s; verifying`);
    const diffs = compareManifests(expected, hashTree(tool.restoredRoot(target, tree)));
    if (diffs.length > 0) {
      throw new Error(
        `RESTORE VERIFICATION FAILED: the restored tree differs from the next-day tree:\n  ${diffs.join('\n  ')}`,
      );
    }
    return { firstBackup, repoAfterFirst, incremental, repoAfterIncremental, restore };
  } finally {
    for (const dir of [place.repo, place.home, target]) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) console.error(`bench: ${e.message}`);
    console.error(USAGE);
    return e.message ? 2 : 0;
  }
  const timeProblem = checkGnuTime();
  if (timeProblem) {
    console.error(`bench: ${timeProblem}`);
    return 1;
  }

  if (options.lifeboat) useLifeboat(options.lifeboat);
  const tools: ToolResult[] = [];
  const active: Tool[] = [];
  for (const name of options.tools) {
    const tool = TOOLS[name];
    const problem = tool.unavailable();
    if (problem) {
      const skipped = name === 'restic';
      log(`${name}: ${skipped ? 'SKIPPED' : 'FAILED'} (${problem})`);
      tools.push({ tool: name, status: skipped ? 'skipped' : 'failed', error: problem, runs: [] });
    } else {
      tools.push({ tool: name, version: tool.version(), status: 'ok', runs: [] });
      active.push(tool);
    }
  }

  mkdirSync(options.workdir, { recursive: true });
  const work = realpathSync(mkdtempSync(join(options.workdir, 'lifeboat-bench-')));
  let load: ChildProcess | undefined;
  const cleanup = () => {
    load?.kill();
    if (options.keep) log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const base = join(work, 'base');
    let start = process.hrtime.bigint();
    const plan = planTree(options.size, options.seed);
    log(`generating ${formatBytes(options.size)} in ${plan.files.length} files under ${base}`);
    writeTree(base, plan);
    const generateSeconds = elapsed(start);
    log(`generated in ${generateSeconds.toFixed(1)} s`);

    start = process.hrtime.bigint();
    const changes = planNextDay(plan, options.seed);
    const reference = join(work, 'tree');
    copyTree(base, reference);
    applyNextDay(reference, changes, options.seed);
    const expected = hashTree(reference);
    rmSync(reference, { recursive: true, force: true });
    log(
      `next-day tree: ${formatBytes(changes.bytesChanged)} changed, ${expected.size} files, hashed in ${elapsed(start).toFixed(1)} s`,
    );

    if (options.loaded) {
      load = startLoad();
      log(`a CPU-bound process (pid ${load.pid}) runs beside every step`);
    }
    const loadStart = loadavg()[0];
    let cacheDropped = true;
    const note = (dropped: boolean) => {
      cacheDropped &&= dropped;
    };
    for (let run = 1; run <= options.runs; run++) {
      for (const tool of active) {
        const result = tools.find((t) => t.tool === tool.name)!;
        if (result.status !== 'ok') continue;
        log(`run ${run}/${options.runs}: ${tool.name}`);
        try {
          result.runs.push(await runOnce(tool, work, base, changes, options.seed, expected, note));
        } catch (e) {
          result.status = 'failed';
          result.error = `run ${run}: ${e instanceof Error ? e.message : String(e)}`;
          log(`${tool.name}: FAILED\n${result.error}`);
        }
      }
    }
    for (const t of tools) if (t.status === 'ok' && t.runs.length > 0) t.median = medianRun(t.runs);

    const result: BenchResult = {
      tree: {
        bytes: options.size,
        files: plan.files.length,
        dirs: plan.dirs.length,
        textBytes: plan.textBytes,
        randomBytes: plan.randomBytes,
        nextDay: {
          bytesChanged: changes.bytesChanged,
          bytesDeleted: changes.bytesDeleted,
          counts: changes.counts,
          files: expected.size,
        },
      },
      runs: options.runs,
      seed: options.seed,
      cacheDropped,
      generateSeconds,
      load: {
        start: loadStart,
        end: loadavg()[0],
        cpus: availableParallelism(),
        busyProcess: options.loaded,
      },
      tools,
    };
    if (options.json) console.log(JSON.stringify(result, null, 2));
    else console.log(formatReport(result));
    return tools.some((t) => t.status === 'failed') ? 1 : 0;
  } finally {
    cleanup();
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
