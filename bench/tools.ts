/**
 * @module bench/tools
 * The backup tools under test, each driven through its command line: Lifeboat (this project,
 * the `lifeboat` command, bin/lifeboat) and restic (with its defaults: zstd "auto" compression).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LIFEBOAT_COMMAND, lifeboatArgv } from './lifeboat-command.js';
import { measure, run, type Sample } from './measure.js';

/** Where a tool keeps its state for one (fresh) repository. */
export interface Place {
  /** The repository folder (absent before init). */
  repo: string;
  /** An empty folder used as the working directory and for caches. */
  home: string;
}

export interface Tool {
  name: string;
  /** Null when the tool can run, else why not (shown as SKIPPED or FAILED). */
  unavailable(): string | null;
  version(): string;
  init(place: Place): void;
  backup(place: Place, tree: string): Promise<Sample>;
  restore(place: Place, target: string): Promise<Sample>;
  /** Where, under the restore target, the restored tree's root lands. */
  restoredRoot(target: string, tree: string): string;
}

const PASSWORD = 'bench';

/** A clean environment: PATH and locale only, caches and config under the place's home. */
function baseEnv(place: Place): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: place.home,
    XDG_CACHE_HOME: join(place.home, 'cache'),
    XDG_CONFIG_HOME: join(place.home, 'config'),
    XDG_DATA_HOME: join(place.home, 'data'),
    XDG_STATE_HOME: join(place.home, 'state'),
    TMPDIR: process.env.TMPDIR,
  };
}

/** The Lifeboat command run by the bench (bench/lifeboat-command.ts); see `useLifeboat`. */
let LIFEBOAT_BIN = LIFEBOAT_COMMAND;

/** Runs Lifeboat from another command or entry script (e.g. a frozen copy of bin/ and dist/). */
export function useLifeboat(bin: string): void {
  LIFEBOAT_BIN = resolve(bin);
}

function lifeboatEnv(place: Place): NodeJS.ProcessEnv {
  return { ...baseEnv(place), LIFEBOAT_REPO: place.repo, LIFEBOAT_PASSWORD: PASSWORD };
}

export const lifeboat: Tool = {
  name: 'lifeboat',
  unavailable() {
    if (!existsSync(LIFEBOAT_BIN)) return `${LIFEBOAT_BIN} is missing`;
    const r = spawnSync(...lifeboatArgv(LIFEBOAT_BIN, ['--help']), { encoding: 'utf8' });
    if (r.status !== 0) return `${LIFEBOAT_BIN} --help failed (exit ${r.status}):\n${r.stderr || r.stdout}`;
    return null;
  },
  version() {
    const r = spawnSync(...lifeboatArgv(LIFEBOAT_BIN, ['--version']), { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : 'unknown';
  },
  init(place) {
    run(...lifeboatArgv(LIFEBOAT_BIN, ['init', '--quiet']), { env: lifeboatEnv(place), cwd: place.home });
  },
  backup(place, tree) {
    return measure(
      ...lifeboatArgv(LIFEBOAT_BIN, [
        'backup',
        '--quiet',
        '--type',
        'files',
        '--name',
        'bench',
        '--path',
        tree,
      ]),
      { env: lifeboatEnv(place), cwd: place.home },
    );
  },
  restore(place, target) {
    return measure(
      ...lifeboatArgv(LIFEBOAT_BIN, ['restore', 'latest', '--quiet', '--source', 'bench', '--to', target]),
      { env: lifeboatEnv(place), cwd: place.home },
    );
  },
  restoredRoot(target, tree) {
    // The snapshot's root is the source folder itself; accept the restic-style layout too.
    const nested = join(target, tree);
    return existsSync(nested) ? nested : target;
  },
};

function resticBin(): string | null {
  if (existsSync('/usr/bin/restic')) return '/usr/bin/restic';
  const r = spawnSync('sh', ['-c', 'command -v restic'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

function resticEnv(place: Place): NodeJS.ProcessEnv {
  return {
    ...baseEnv(place),
    RESTIC_REPOSITORY: place.repo,
    RESTIC_PASSWORD: PASSWORD,
    RESTIC_CACHE_DIR: join(place.home, 'cache', 'restic'),
  };
}

export const restic: Tool = {
  name: 'restic',
  unavailable() {
    return resticBin() ? null : 'not installed; apt-get install restic';
  },
  version() {
    return run(resticBin()!, ['version']).trim();
  },
  init(place) {
    run(resticBin()!, ['init', '--quiet'], { env: resticEnv(place), cwd: place.home });
  },
  backup(place, tree) {
    return measure(resticBin()!, ['backup', '--quiet', tree], { env: resticEnv(place), cwd: place.home });
  },
  restore(place, target) {
    return measure(resticBin()!, ['restore', 'latest', '--quiet', '--target', target], {
      env: resticEnv(place),
      cwd: place.home,
    });
  },
  restoredRoot(target, tree) {
    // restic restores the absolute path of the backed-up folder under the target.
    return join(target, tree);
  },
};

export const TOOLS: Record<string, Tool> = { lifeboat, restic };
