/**
 * @module jobs/queue/target-match
 * Whether a restore target reaches a protected source, however it is spelled. Targets and
 * protected locations are normalised first: `file:` URLs become paths; paths are resolved
 * through the real path of their longest existing prefix (symlinked folders, `..`); database
 * URLs become a server (every address its host resolves to, with local and loopback addresses
 * folded into one) and port, plus a database name where the engine restores into one. A
 * target inside, above or equal to a protected location matches; one that cannot be
 * resolved (an unknown scheme, a host with no address) matches too, since nobody can tell
 * what it reaches.
 */
import { lookup } from 'node:dns/promises';
import { realpath } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfiguredSource } from '../../config/config-schema.js';
import { sourceOfUnit } from '../../sources/source-units.js';

/** A place a restore can write: a path, a database server (and database), or an unknown. */
export type Location =
  | { kind: 'path'; path: string }
  | { kind: 'server'; addresses: string[]; port: number | undefined; database: string | undefined }
  | { kind: 'unresolved'; reason: string };

/** Default ports, and whether a restore writes into one named database (else the whole server). */
const ENGINES: Record<string, { port: number; byDatabase: boolean }> = {
  postgres: { port: 5432, byDatabase: true },
  postgresql: { port: 5432, byDatabase: true },
  mysql: { port: 3306, byDatabase: true },
  mariadb: { port: 3306, byDatabase: true },
  redis: { port: 6379, byDatabase: false },
  rediss: { port: 6379, byDatabase: false },
  mongodb: { port: 27017, byDatabase: false },
  'mongodb+srv': { port: 27017, byDatabase: false },
};

/** Stands for every address of this machine: a server on 0.0.0.0 answers on each of them. */
const LOCAL = 'this-machine';

/** The real path of `p`: the longest prefix that exists, resolved through symlinks, plus the rest. */
async function realPathOf(p: string): Promise<string> {
  const rest: string[] = [];
  let head = p;
  for (;;) {
    try {
      return join(await realpath(head), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const up = dirname(head);
      if (up === head) return resolve(p);
      rest.push(basename(head));
      head = up;
    }
  }
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.toLowerCase());
  }
  return out;
}

function canonicalAddress(address: string, local: Set<string>): string {
  const a = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
  if (a === '::1' || a === '0.0.0.0' || a === '::' || /^127\./.test(a) || local.has(a)) return LOCAL;
  return a;
}

async function addressesOf(host: string): Promise<string[] | undefined> {
  const local = localAddresses();
  // A Unix socket is on this machine.
  if (host.startsWith('/')) return [LOCAL];
  try {
    const found = await lookup(host.replace(/^\[(.*)\]$/, '$1'), { all: true, verbatim: true });
    return [...new Set(found.map((f) => canonicalAddress(f.address, local)))];
  } catch {
    return undefined;
  }
}

const URL_PARTS = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#]*@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?/i;

/** The servers a database URL names (several for a MongoDB seed list). */
async function serverLocations(url: string, database?: string): Promise<Location[]> {
  const m = URL_PARTS.exec(url);
  const scheme = m?.[1].toLowerCase() ?? '';
  const engine = ENGINES[scheme];
  if (!m || !engine) return [{ kind: 'unresolved', reason: `unknown kind of target ${scheme || url}` }];
  const query = new URLSearchParams(m[4] ?? '');
  let db: string | undefined;
  try {
    db = database ?? (decodeURIComponent((m[3] ?? '').replace(/^\//, '')) || undefined);
  } catch {
    return [{ kind: 'unresolved', reason: 'a database name that does not decode' }];
  }
  const socket = query.get('host') ?? query.get('socket');
  const hosts = socket?.startsWith('/') ? [socket] : m[2] ? m[2].split(',') : ['localhost'];
  const out: Location[] = [];
  for (const entry of hosts) {
    const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(entry);
    const host = entry.startsWith('/') ? entry : hp?.[1] || 'localhost';
    const queryPort = query.get('port');
    const port = hp?.[2] ? Number(hp[2]) : queryPort ? Number(queryPort) : engine.port;
    const addresses = await addressesOf(decodeURIComponentSafe(host));
    if (!addresses) {
      out.push({ kind: 'unresolved', reason: `host ${host} does not resolve` });
      continue;
    }
    out.push({
      kind: 'server',
      addresses,
      // A MySQL socket names no port: it may be any server on this machine.
      port: entry.startsWith('/') && !scheme.startsWith('postgres') ? undefined : port,
      database: engine.byDatabase ? db?.toLowerCase() : undefined,
    });
  }
  return out;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

async function pathLocation(p: string): Promise<Location> {
  try {
    return { kind: 'path', path: await realPathOf(resolve(p)) };
  } catch (err) {
    return { kind: 'unresolved', reason: `${p}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}` };
  }
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Every place `to` may name, read the ways the restore engines read it: a `file:` URL or a
 * path; a database URL; and a bare name, which a database engine takes as a database on the
 * snapshot's own server (`sourceUrl`).
 */
export async function targetLocations(to: string, sourceUrl?: string): Promise<Location[]> {
  const out: Location[] = [];
  if (/^file:/i.test(to)) {
    try {
      out.push(await pathLocation(fileURLToPath(to)));
    } catch {
      out.push({ kind: 'unresolved', reason: 'a file URL that names no local path' });
    }
  }
  if (SCHEME.test(to)) {
    if (!/^file:/i.test(to)) out.push(...(await serverLocations(to)));
    return out;
  }
  // Engines differ on whether `file:/x` is a URL or a relative path: it is checked as both.
  out.push(await pathLocation(to));
  if (sourceUrl && SCHEME.test(sourceUrl)) out.push(...(await serverLocations(sourceUrl, to)));
  return out;
}

/** Where a configured source lives: its path, or its server and databases. */
export async function sourceLocations(source: ConfiguredSource): Promise<Location[]> {
  const s = source as { path?: unknown; url?: unknown; databases?: unknown };
  if (typeof s.path === 'string') return [await pathLocation(s.path)];
  if (typeof s.url !== 'string') return [];
  if (Array.isArray(s.databases)) {
    const all = await Promise.all(s.databases.map((d) => serverLocations(s.url as string, String(d))));
    return all.flat();
  }
  if (s.databases === 'all') {
    return (await serverLocations(s.url)).map((l) =>
      l.kind === 'server' ? { ...l, database: undefined } : l,
    );
  }
  return serverLocations(s.url);
}

function within(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** True when writing to `target` may write inside, above or onto `guarded`. */
export function overlaps(target: Location, guarded: Location): boolean {
  if (target.kind === 'unresolved') return true;
  if (guarded.kind === 'unresolved') return false;
  if (target.kind === 'path' && guarded.kind === 'path') {
    return within(guarded.path, target.path) || within(target.path, guarded.path);
  }
  if (target.kind === 'server' && guarded.kind === 'server') {
    if (!target.addresses.some((a) => guarded.addresses.includes(a))) return false;
    if (target.port !== undefined && guarded.port !== undefined && target.port !== guarded.port) return false;
    return (
      target.database === undefined || guarded.database === undefined || target.database === guarded.database
    );
  }
  return false;
}

/**
 * Why a restore to `to` needs approval (the first protected source it reaches, or why it
 * cannot be told), or undefined when it reaches none.
 */
export async function protectedTargetReason(
  sources: Record<string, ConfiguredSource>,
  to: string,
  sourceUrl?: string,
): Promise<string | undefined> {
  const guarded = Object.entries(sources).filter(([, s]) => s.protected);
  if (guarded.length === 0) return undefined;
  const targets = await targetLocations(to, sourceUrl);
  const unresolved = targets.find((t) => t.kind === 'unresolved');
  if (unresolved?.kind === 'unresolved') return `the target cannot be resolved (${unresolved.reason})`;
  for (const [name, source] of guarded) {
    const places = await sourceLocations(source);
    if (targets.some((t) => places.some((g) => overlaps(t, g))))
      return `the target reaches protected source ${name}`;
  }
  return undefined;
}

/**
 * Why a restore of a snapshot of `snapshotSource` to `to` needs a second admin: the source
 * is protected, or the target reaches a protected source; undefined if neither. Asked when
 * the restore is requested, and again just before an unapproved one runs (a symlink made in
 * between must not carry it onto protected data).
 */
export async function restoreApprovalReason(
  sources: Record<string, ConfiguredSource>,
  snapshotSource: string,
  to: string,
): Promise<string | undefined> {
  const top = sourceOfUnit(snapshotSource);
  const own = Object.hasOwn(sources, top) ? sources[top] : undefined;
  if (own?.protected) return `source ${top} is protected`;
  const url = (own as { url?: unknown } | undefined)?.url;
  return protectedTargetReason(sources, to, typeof url === 'string' ? url : undefined);
}
