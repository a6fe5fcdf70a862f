/**
 * @module sources/postgres/wal-names
 * PostgreSQL's names for the files it archives: WAL segments (timeline, log, segment in
 * hex), .partial, .backup and .history files; where a segment sits in the chain, and the
 * gaps in a chain of archived names. Pure functions: the repository stores these files under
 * their names without knowing what the names mean.
 */

const WAL_NAME = /^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$/;

/** True for a name PostgreSQL archives (a segment, .partial, .backup or .history file). */
export function isWalName(name: string): boolean {
  return WAL_NAME.test(name);
}

/** Timeline of a WAL file name. */
export function timelineOf(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

/** Position of a segment (log * 2^32/segsize + seg), ignoring the timeline; undefined for .history. */
export function segmentNumber(name: string, segmentsPerLog = 256): number | undefined {
  if (!/^[0-9A-F]{24}/.test(name)) return undefined;
  return Number.parseInt(name.slice(8, 16), 16) * segmentsPerLog + Number.parseInt(name.slice(16, 24), 16);
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

/** The segment name at `position` on `timeline`. */
export function segmentName(timeline: number, position: number, segmentsPerLog = 256): string {
  return `${hex8(timeline)}${hex8(Math.floor(position / segmentsPerLog))}${hex8(position % segmentsPerLog)}`;
}

/** The history file of `timeline` (recovery probes for these to find newer timelines). */
export function historyName(timeline: number): string {
  return `${hex8(timeline)}.history`;
}

/** Segments per 4 GiB "log" for a segment size (256 for PostgreSQL's default 16 MiB). */
export function segmentsPerLog(segmentSize: number): number {
  return segmentSize > 0 ? Math.max(1, Math.round(2 ** 32 / segmentSize)) : 256;
}

/** Sort key of a segment name by position, then timeline. */
export function positionKey(name: string): string {
  return name.slice(8, 24) + name.slice(0, 8);
}

export interface WalGap {
  /** The first missing segment (on the timeline of the segment before it). */
  first: string;
  /** How many consecutive segment positions are missing. */
  count: number;
}

/**
 * Gaps in the archived chain `files` from `start` on. A position counts as present when some
 * timeline has it (a timeline switch archives the old timeline's part as .partial and the
 * new one's whole segment under the new timeline).
 */
export function walGaps(files: readonly { name: string }[], start: string, perLog = 256): WalGap[] {
  const byPos = new Map<number, string>();
  for (const f of files) {
    const base = f.name.replace(/\.partial$/, '');
    if (base.length !== 24) continue;
    const pos = segmentNumber(base, perLog) as number;
    const had = byPos.get(pos);
    if (!had || had < base) byPos.set(pos, base);
  }
  const from = segmentNumber(start, perLog);
  if (from === undefined || byPos.size === 0) return [];
  const last = Math.max(...byPos.keys());
  const gaps: WalGap[] = [];
  let prev = start;
  for (let pos = from; pos <= last; pos++) {
    const here = byPos.get(pos);
    if (here) {
      prev = here;
      continue;
    }
    let end = pos;
    while (end + 1 <= last && !byPos.has(end + 1)) end++;
    gaps.push({ first: segmentName(timelineOf(prev), pos, perLog), count: end - pos + 1 });
    pos = end;
  }
  return gaps;
}

/** Largest WAL file accepted; PostgreSQL's default segment is 16 MiB (initdb --wal-segsize). */
export const MAX_WAL_SIZE = 1024 * 1024 * 1024;
