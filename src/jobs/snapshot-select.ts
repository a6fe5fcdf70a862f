/**
 * @module jobs/snapshot-select
 * Finding snapshots: by id or unique prefix, `latest`, and the listing filters.
 */
import { LifeboatError } from '../errors.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry, SnapshotProblem } from '../repo/snapshot.js';
import { snapshotProblemError } from '../repo/snapshot.js';
import { belongsTo } from '../sources/source-units.js';
import { aheadOfStorage, describeAhead } from './retention.js';

export interface SnapshotFilter {
  source?: string;
  tag?: string;
  before?: Date;
  after?: Date;
  /**
   * Leave out restore drills' reports (kind `drill`): they are no backups. A `source` that
   * names a drill source ("drill:app") shows them all the same.
   */
  hideDrills?: boolean;
}

export function filterSnapshots(entries: SnapshotEntry[], f: SnapshotFilter): SnapshotEntry[] {
  return entries.filter(({ snapshot: s }) => {
    const t = new Date(s.time).getTime();
    if (f.source && !belongsTo(s.source, f.source)) return false;
    if (f.hideDrills && s.kind === 'drill' && !f.source?.startsWith('drill:')) return false;
    if (f.tag && !s.tags.includes(f.tag)) return false;
    if (f.before && t >= f.before.getTime()) return false;
    if (f.after && t <= f.after.getTime()) return false;
    return true;
  });
}

/**
 * SNAPSHOT is a full id, a unique prefix of at least 8 hex characters, or `latest`. A
 * snapshot file that does not read costs only itself: naming it is an error that says so,
 * `latest` is the newest snapshot that reads and is not from the future (the caller warns
 * about `skipped` and `future`).
 */
export async function findSnapshot(
  repo: Repository,
  ref: string,
  source?: string,
): Promise<SnapshotEntry & { skipped: SnapshotProblem[]; future: string[] }> {
  const scan = await repo.scanSnapshots();
  const now = repo.clock.now();
  const entry = pickSnapshot(scan.snapshots, ref, source, repo.location, scan.problems, now);
  if (ref !== 'latest') return { ...entry, skipped: [], future: [] };
  const passed = filterSnapshots(scan.snapshots, { source }).filter((e) => aheadOfStorage(e, now) > 0);
  return { ...entry, skipped: scan.problems, future: describeFuture(passed, now) };
}

/** One line per snapshot `latest` passed over because it claims a time from the future. */
function describeFuture(entries: readonly SnapshotEntry[], now: Date): string[] {
  return entries.map(
    (e) =>
      `snapshot ${e.id.slice(0, 8)} claims ${e.snapshot.time}, ${describeAhead(aheadOfStorage(e, now))} ahead of the storage clock: not taken as latest (name it by id to use it)`,
  );
}

/**
 * findSnapshot over a list already at hand (oldest first), e.g. the server's cache, with the
 * snapshot files that did not read (`problems`), so a ref naming one is told why. `latest`
 * passes over snapshots ahead of the storage's clock at `now` (retention.aheadOfStorage):
 * a write-only key must not be able to choose what a restore of `latest` brings back.
 */
export function pickSnapshot(
  entries: SnapshotEntry[],
  ref: string,
  source: string | undefined,
  location: string,
  problems: readonly SnapshotProblem[] = [],
  now: Date = new Date(),
): SnapshotEntry {
  const all = filterSnapshots(entries, { source });
  const unread =
    problems.length > 0
      ? ` (${problems.length} snapshot file${problems.length === 1 ? '' : 's'} could not be read: ${problems.map((p) => p.id.slice(0, 8)).join(', ')})`
      : '';
  const repo = { location };
  if (ref === 'latest') {
    // Drill reports and archived WAL files are kept as snapshots but are never the "latest" backup.
    const candidates = all.filter((e) => e.snapshot.kind !== 'drill');
    const backups = candidates.filter((e) => aheadOfStorage(e, now) === 0);
    const last = backups.at(-1);
    if (!last) {
      const scope = source ? ` of source "${source}"` : '';
      const future = candidates.map((e) => e.id.slice(0, 8));
      throw new LifeboatError(
        'not_found',
        future.length > 0
          ? `[snapshots] no snapshot${scope} in ${repo.location} to take as latest: ${future.length} claim${future.length === 1 ? 's' : ''} a time ahead of the storage clock (${future.join(', ')}); name one by id if it is genuine`
          : `[snapshots] no snapshot${scope} in ${repo.location} (run \`lifeboat backup\` first)${unread}`,
      );
    }
    const sources = [...new Set(backups.map((e) => e.snapshot.source))];
    if (sources.length > 1) {
      throw new LifeboatError(
        'usage',
        `[snapshots] "latest" is ambiguous: ${source ? `source "${source}" has several units` : 'the repository holds several sources'} (${sources.join(', ')}); add --source NAME`,
      );
    }
    return last;
  }
  if (!/^[0-9a-f]{8,64}$/.test(ref)) {
    throw new LifeboatError(
      'usage',
      `[snapshots] "${ref}" is not a snapshot id: give 8 or more hex characters, or "latest"`,
    );
  }
  let matches = all.filter((e) => e.id.startsWith(ref));
  if (matches.length === 0)
    matches = all.filter((e) => e.snapshot.previousIds?.some((p) => p.startsWith(ref)));
  if (matches.length === 0) {
    const bad = problems.filter((p) => p.id.startsWith(ref));
    if (bad.length > 0) throw snapshotProblemError(bad);
    throw new LifeboatError(
      'not_found',
      `[snapshots] no snapshot ${ref} in ${repo.location} (list them with \`lifeboat snapshots\`)`,
    );
  }
  if (matches.length > 1) {
    throw new LifeboatError(
      'usage',
      `[snapshots] prefix ${ref} matches ${matches.length} snapshots; give more characters`,
    );
  }
  return matches[0];
}

/**
 * The newest snapshot of exactly this source (or unit) that reads and is not from the
 * future, if any: the parent for change detection. A damaged newer one costs only speed
 * (more is read), never correctness.
 */
export async function latestOf(repo: Repository, source: string): Promise<SnapshotEntry | undefined> {
  const now = repo.clock.now();
  return (await repo.scanSnapshots()).snapshots
    .filter((e) => e.snapshot.source === source && aheadOfStorage(e, now) === 0)
    .at(-1);
}

/** Snapshot files that did not read, one line each, for a listing's stderr. */
export function describeProblems(problems: readonly SnapshotProblem[]): string[] {
  return problems.map((p) =>
    p.kind === 'damaged'
      ? `snapshot ${p.id} skipped, it is lost: ${p.message} (\`lifeboat forget ${p.id.slice(0, 8)}\` removes the file)`
      : `snapshot ${p.id} skipped, it could not be read: ${p.message} (try again; if it persists run \`lifeboat check\`)`,
  );
}

/** Problems as `snapshots --json` and the API show them (without the error object). */
export function publicProblems(problems: readonly SnapshotProblem[]): Omit<SnapshotProblem, 'error'>[] {
  return problems.map(({ id, kind, message }) => ({ id, kind, message }));
}

/**
 * The snapshot `restore --at TIME` of a logical source restores: the newest of `source` taken
 * at or before `time` (as `latest` would choose among them), or not_found naming the oldest.
 */
export async function findSnapshotAt(repo: Repository, source: string, time: number): Promise<SnapshotEntry> {
  const scan = await repo.scanSnapshots();
  return pickSnapshotAt(scan.snapshots, source, time, repo.location, scan.problems, repo.clock.now());
}

/** findSnapshotAt over a list already at hand (oldest first). */
export function pickSnapshotAt(
  entries: SnapshotEntry[],
  source: string,
  time: number,
  location: string,
  problems: readonly SnapshotProblem[] = [],
  now: Date = new Date(),
): SnapshotEntry {
  const mine = filterSnapshots(entries, { source }).filter((e) => e.snapshot.kind !== 'drill');
  const before = mine.filter((e) => Date.parse(e.snapshot.time) <= time);
  if (before.length === 0) {
    const oldest = mine[0]?.snapshot.time;
    throw new LifeboatError(
      'not_found',
      `[restore] no snapshot of source "${source}" at or before ${new Date(time).toISOString()} in ${location}${oldest ? ` (the oldest is from ${oldest})` : ' (run `lifeboat backup` first)'}`,
    );
  }
  return pickSnapshot(before, 'latest', source, location, problems, now);
}
