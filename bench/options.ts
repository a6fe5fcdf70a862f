/**
 * @module bench/options
 * Command-line options of `npm run bench` (see bench/run.ts).
 */
import { tmpdir } from 'node:os';

export interface BenchOptions {
  /** Total bytes of the generated tree. */
  size: number;
  /** Repetitions of every measured step, each on fresh repositories; the median is reported. */
  runs: number;
  /** Seed of the generated tree and of the next-day change. */
  seed: string;
  /** Parent folder of the temporary work folder. */
  workdir: string;
  /** Keep the work folder (trees, repositories, restores) afterwards. */
  keep: boolean;
  /** Print the results as JSON instead of tables. */
  json: boolean;
  /** Tools to run, in order. */
  tools: string[];
  /** The Lifeboat command, or a .js entry script (default: this checkout's bin/lifeboat). */
  lifeboat?: string;
  /** Keep one CPU-bound process running beside every measured step. */
  loaded: boolean;
}

export const USAGE = `usage: npm run bench -- [options]
  --size SIZE       tree size, e.g. 1GiB, 200MiB, 500MB (env BENCH_SIZE; default 1GiB)
  --runs N          repetitions of every step on fresh repositories, median reported (default 3)
  --seed S          seed of the generated data (default "lifeboat")
  --workdir DIR     parent of the temporary work folder (default: the OS temp folder)
  --tools LIST      comma-separated tools to compare: lifeboat,restic (default both)
  --lifeboat FILE   lifeboat command to run, or a .js entry run by node (env LIFEBOAT_BENCH_BIN; default bin/lifeboat),
                    e.g. a frozen copy of bin/ + dist/ while others rebuild dist/
  --loaded          run a CPU-bound process beside every measured step (both tools)
  --keep            keep the work folder afterwards
  --json            print the results as JSON`;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Parses `1GiB`, `200MiB`, `1.5G`, `500MB`, `1048576` into bytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new UsageError(`bad size: ${JSON.stringify(text)}`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes < 1024 * 1024) throw new UsageError(`size too small (minimum 1MiB): ${text}`);
  return bytes;
}

export class UsageError extends Error {}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const options: BenchOptions = {
    size: parseSize(env.BENCH_SIZE ?? '1GiB'),
    runs: 3,
    seed: 'lifeboat',
    workdir: tmpdir(),
    keep: false,
    json: false,
    tools: ['lifeboat', 'restic'],
    lifeboat: env.LIFEBOAT_BENCH_BIN || undefined,
    loaded: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${name} needs a value`);
      return next;
    };
    switch (name) {
      case '--size':
        options.size = parseSize(value());
        break;
      case '--runs': {
        const runs = Number(value());
        if (!Number.isInteger(runs) || runs < 1) throw new UsageError('--runs must be a positive integer');
        options.runs = runs;
        break;
      }
      case '--seed':
        options.seed = value();
        break;
      case '--workdir':
        options.workdir = value();
        break;
      case '--tools': {
        const tools = value()
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean);
        for (const t of tools) {
          if (t !== 'lifeboat' && t !== 'restic') throw new UsageError(`unknown tool: ${t}`);
        }
        if (tools.length === 0) throw new UsageError('--tools is empty');
        options.tools = tools;
        break;
      }
      case '--lifeboat':
        options.lifeboat = value();
        break;
      case '--loaded':
        options.loaded = true;
        break;
      case '--keep':
        options.keep = true;
        break;
      case '--json':
        options.json = true;
        break;
      case '-h':
      case '--help':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown argument: ${arg}`);
    }
  }
  return options;
}
