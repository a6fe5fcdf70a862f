/**
 * @module sources/postgres/postgres-tools
 * Finding the PostgreSQL client programs (pg_dump, pg_restore, pg_dumpall, psql) that fit a
 * server, and refusing ones too old for it before any work starts: pg_dump cannot dump a
 * server of a newer major version, and pg_restore cannot read archives of a newer pg_dump.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { LifeboatError } from '../../errors.js';
import { runTool, type ToolCommand } from '../dump-runner.js';

export type PgTool = 'pg_dump' | 'pg_restore' | 'pg_dumpall' | 'psql' | 'pg_basebackup';

/** Debian's package for the client programs of one major version. */
export function clientPackage(major: number | undefined): string {
  return major ? `postgresql-client-${major}` : 'postgresql-client';
}

/** Major version of a server_version_num (150020 -> 15; before 10, 90624 -> 9). */
export function majorOf(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

/** Parses `pg_dump --version` output ("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"). */
export function parseToolVersion(output: string): { text: string; major: number; num: number } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(output);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[2] ?? 0);
  const c = Number(m[3] ?? 0);
  // Before 10, versions were a.b.c with major a.b; from 10 on, a.b with major a.
  const num = a >= 10 ? a * 10000 + b : a * 10000 + b * 100 + c;
  return { text: m[0].replace(/^\(PostgreSQL\)\s+/, ''), major: a, num };
}

/**
 * Throws when a client program is too old: `pg_dump` (and pg_dumpall) must be at least the
 * server's major version; `pg_restore` at least that of the pg_dump that wrote the archive.
 */
export function checkClientVersion(args: {
  tool: PgTool;
  clientMajor: number;
  clientText: string;
  /** The server's (pg_dump) or the archive writer's (pg_restore) major version. */
  neededMajor: number;
  neededText: string;
  source: string;
}): void {
  const { tool, clientMajor, clientText, neededMajor, neededText, source } = args;
  if (clientMajor >= neededMajor) return;
  const what =
    tool === 'pg_restore'
      ? `the snapshot was written by pg_dump ${neededText}`
      : `the server is PostgreSQL ${neededText}`;
  throw new LifeboatError(
    'source_failed',
    `[source:postgres] ${tool} ${clientText} is too old for source "${source}": ${what} (install ${clientPackage(neededMajor)}, e.g. apt-get install ${clientPackage(neededMajor)}, or set bin_dir to its bin folder, e.g. /usr/lib/postgresql/${neededMajor}/bin)`,
  );
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of a client program: in `binDir` when configured; else Debian's folder for the
 * server's major version when present (several versions may be installed side by side);
 * else the bare name, found on PATH. A configured folder without it is an error naming the
 * package; a bare name that is missing fails in the runner with the same hint.
 */
export async function resolveTool(
  tool: PgTool,
  options: { binDir?: string; serverMajor?: number; source: string },
): Promise<string> {
  const pkg = clientPackage(options.serverMajor);
  if (options.binDir) {
    const path = join(options.binDir, tool);
    if (await executable(path)) return path;
    throw new LifeboatError(
      'source_failed',
      `[source:postgres] ${tool} not found in bin_dir ${options.binDir} of source "${options.source}": install ${pkg} (e.g. apt-get install ${pkg}) or fix bin_dir`,
    );
  }
  if (options.serverMajor) {
    const debian = join('/usr/lib/postgresql', String(options.serverMajor), 'bin', tool);
    if (await executable(debian)) return debian;
  }
  return tool;
}

/** Runs `TOOL --version` and parses it. */
export async function toolVersion(
  path: string,
  tool: PgTool,
  serverMajor?: number,
): Promise<{ text: string; major: number; num: number }> {
  const cmd: ToolCommand = {
    engine: 'postgres',
    command: path,
    args: ['--version'],
    packageHint: clientPackage(serverMajor),
  };
  const out = await runTool(cmd);
  const v = parseToolVersion(out);
  if (!v) {
    throw new LifeboatError(
      'source_failed',
      `[source:postgres] cannot read the version of ${tool} (${path} --version printed "${out.trim().slice(0, 100)}")`,
    );
  }
  return v;
}

/**
 * Resolves a client program for a server and checks its version before any work: at least
 * `needed` (the server's major for pg_dump and pg_dumpall, the archive writer's for
 * pg_restore). Returns its path and version.
 */
export async function checkedTool(
  tool: PgTool,
  options: {
    binDir?: string;
    serverMajor: number;
    source: string;
    needed?: { major: number; text: string };
  },
): Promise<{ path: string; version: { text: string; major: number; num: number } }> {
  const path = await resolveTool(tool, options);
  const version = await toolVersion(path, tool, options.serverMajor);
  if (options.needed) {
    checkClientVersion({
      tool,
      clientMajor: version.major,
      clientText: version.text,
      neededMajor: options.needed.major,
      neededText: options.needed.text,
      source: options.source,
    });
  }
  return { path, version };
}
