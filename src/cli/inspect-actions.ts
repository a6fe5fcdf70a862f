/**
 * @module cli/inspect-actions
 * ls, find, diff, stats, tag: look inside snapshots without restoring. Parse, call
 * jobs/snapshot-walk, jobs/repo-stats or jobs/snapshot-tag, render. Listings stream (a
 * --json listing is one JSON array written entry by entry).
 */

import { formatBytes } from '../byte-size.js';
import { LifeboatError } from '../errors.js';
import { type RawStats, type RestoreStats, rawStats, restoreStats } from '../jobs/repo-stats.js';
import { describeProblems, filterSnapshots, findSnapshot } from '../jobs/snapshot-select.js';
import { tagSnapshot } from '../jobs/snapshot-tag.js';
import {
  diffRows,
  diffTrees,
  findInSnapshots,
  folderTree,
  isDump,
  type TreeChange,
  treeReader,
  type WalkProblem,
  walkTree,
} from '../jobs/snapshot-walk.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import type { TreeNode } from '../sources/source.js';
import type { CliContext } from './context.js';
import { print, table } from './shell.js';

/** Problems found while reading trees: named on stderr, then exit 3. */
function finishPartial(command: string, problems: readonly (WalkProblem & { id?: string })[]): void {
  if (problems.length === 0) return;
  for (const p of problems) {
    process.stderr.write(
      `lifeboat: ${p.id ? `snapshot ${p.id.slice(0, 8)}: ` : ''}${p.path}: ${p.message}\n`,
    );
  }
  throw new LifeboatError(
    'partial',
    `[${command}] ${problems.length} part${problems.length === 1 ? '' : 's'} of ${problems.some((p) => p.id) ? 'the snapshots' : 'the snapshot'} could not be read (named above; \`lifeboat check\` says what is damaged)`,
  );
}

function warnSkipped(found: { skipped: Parameters<typeof describeProblems>[0] }): void {
  for (const line of describeProblems(found.skipped)) process.stderr.write(`lifeboat: warning: ${line}\n`);
}

/** A JSON array written one element at a time. */
function jsonArray(): { push: (value: unknown) => void; end: () => void } {
  let first = true;
  return {
    push: (value) => {
      process.stdout.write(`${first ? '[\n' : ',\n'}  ${JSON.stringify(value)}`);
      first = false;
    },
    end: () => process.stdout.write(first ? '[]\n' : '\n]\n'),
  };
}

function mtimeOf(n: TreeNode): string {
  return n.mtimeNs ? new Date(Number(BigInt(n.mtimeNs) / 1_000_000n)).toISOString() : '';
}

function jsonNode(path: string, n: TreeNode): Record<string, unknown> {
  return {
    path,
    name: n.name,
    type: n.type,
    size: n.type === 'file' ? (n.size ?? 0) : null,
    mode: n.mode ?? null,
    uid: n.uid ?? null,
    gid: n.gid ?? null,
    mtime: mtimeOf(n) || null,
    ...(n.target !== undefined ? { target: n.target } : {}),
    ...(n.damaged ? { damaged: n.damaged } : {}),
  };
}

const TYPE_CHAR: Record<string, string> = {
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  chardev: 'c',
  blockdev: 'b',
};

/** `-rw-r--r--` from a type and mode bits. */
function modeString(n: TreeNode): string {
  const m = n.mode ?? 0;
  let s = TYPE_CHAR[n.type] ?? '-';
  for (const shift of [6, 3, 0]) {
    const bits = (m >> shift) & 7;
    s += `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  }
  return s;
}

function shortTime(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}

export async function ls(
  ctx: CliContext,
  opts: { source?: string; long?: boolean },
  ref: string,
  path = '',
): Promise<void> {
  const repo = await ctx.openRepository();
  const found = await findSnapshot(repo, ref, opts.source);
  warnSkipped(found);
  const store = await treeReader(repo);
  const root = await folderTree(store, { id: found.id, root: found.snapshot.root }, path);
  const prefix = path
    .split('/')
    .filter((p) => p.length > 0 && p !== '.')
    .join('/');
  const problems: WalkProblem[] = [];
  const walk = walkTree(store, root, prefix, problems);
  const s = found.snapshot;
  if (ctx.options.json) {
    // The entries stream into the array; the snapshot's statistics (a dump's counts) follow.
    const head = {
      id: found.id,
      short_id: found.id.slice(0, 8),
      source: s.source,
      engine: s.engine,
      kind: s.kind,
      time: s.time,
    };
    process.stdout.write(`${JSON.stringify(head, null, 1).slice(0, -2)},\n"entries": `);
    const out = jsonArray();
    for await (const { path: p, node } of walk) out.push(jsonNode(p, node));
    out.end();
    process.stdout.write(`,\n"stats": ${JSON.stringify(s.stats)}\n}\n`);
  } else {
    print(`snapshot ${found.id.slice(0, 8)} of ${s.source} (${s.engine}) at ${shortTime(s.time)}:`);
    const rows: string[][] = [];
    for await (const { path: p, node } of walk) {
      const name = node.type === 'symlink' ? `${p} -> ${node.target ?? ''}` : p;
      if (!opts.long) {
        print(node.type === 'dir' ? `${name}/` : name);
        continue;
      }
      rows.push([
        modeString(node),
        `${node.uid ?? ''}`,
        `${node.gid ?? ''}`,
        node.type === 'file' ? `${node.size ?? 0}` : '',
        shortTime(mtimeOf(node)),
        name,
      ]);
    }
    if (opts.long) table(['Mode', 'UID', 'GID', 'Size', 'Modified (UTC)', 'Path'], rows);
    if (isDump(found)) dumpCounts(found);
  }
  finishPartial('ls', problems);
}

/** A dump's statistics: rows per table and the other counts its engine recorded. */
function dumpCounts(entry: SnapshotEntry): void {
  const { rows, ...rest } = entry.snapshot.stats;
  const counts = Object.entries(rest).filter(([, v]) => typeof v === 'number');
  if (counts.length > 0) print(counts.map(([k, v]) => `${k}: ${v}`).join(', '));
  if (rows && Object.keys(rows).length > 0) {
    table(
      ['Table', 'Rows'],
      Object.entries(rows)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([t, n]) => [t, `${n}`]),
    );
  }
}

export async function find(ctx: CliContext, opts: { source?: string }, pattern: string): Promise<void> {
  const repo = await ctx.openRepository();
  const scan = await repo.scanSnapshots();
  for (const line of describeProblems(scan.problems)) process.stderr.write(`lifeboat: warning: ${line}\n`);
  const list = filterSnapshots(scan.snapshots, { source: opts.source }).filter(
    (e) => e.snapshot.kind !== 'drill',
  );
  const store = await treeReader(repo);
  const problems: (WalkProblem & { id: string })[] = [];
  const matches = findInSnapshots(store, list, pattern, problems);
  let n = 0;
  if (ctx.options.json) {
    const out = jsonArray();
    for await (const m of matches) {
      n++;
      out.push({
        id: m.id,
        short_id: m.id.slice(0, 8),
        source: m.source,
        time: m.time,
        ...jsonNode(m.path, m.node),
      });
    }
    out.end();
  } else {
    const rows: string[][] = [];
    for await (const m of matches) {
      n++;
      rows.push([
        m.id.slice(0, 8),
        m.source,
        shortTime(m.time),
        m.node.type === 'file' ? formatBytes(m.node.size ?? 0) : m.node.type,
        m.path,
      ]);
    }
    table(['ID', 'Source', 'Time (UTC)', 'Size', 'Path'], rows);
    print(`${n} match${n === 1 ? '' : 'es'} in ${list.length} snapshot${list.length === 1 ? '' : 's'}`);
  }
  finishPartial('find', problems);
}

export async function diff(
  ctx: CliContext,
  opts: { source?: string },
  refA: string,
  refB: string,
): Promise<void> {
  const repo = await ctx.openRepository();
  const a = await findSnapshot(repo, refA, opts.source);
  const b = await findSnapshot(repo, refB, opts.source);
  warnSkipped(a);
  if (refB === 'latest' && refA !== 'latest') warnSkipped(b);
  const store = await treeReader(repo);
  const problems: WalkProblem[] = [];
  const rows = isDump(a) || isDump(b) ? diffRows(a, b) : [];
  const totals = { added: 0, removed: 0, changed: 0, bytesAdded: 0, bytesRemoved: 0 };
  const count = (c: TreeChange) => {
    totals[c.kind]++;
    totals.bytesAdded += c.after ?? 0;
    totals.bytesRemoved += c.before ?? 0;
  };
  const walk = diffTrees(store, a.snapshot.root, b.snapshot.root, '', problems);
  if (ctx.options.json) {
    // Changes can be many: they stream into the array; the summary comes after.
    process.stdout.write(`{\n"a": ${JSON.stringify(a.id)},\n"b": ${JSON.stringify(b.id)},\n"changes": `);
    const out = jsonArray();
    for await (const c of walk) {
      count(c);
      out.push(c);
    }
    out.end();
    process.stdout.write(`,\n"rows": ${JSON.stringify(rows)},\n"summary": ${JSON.stringify(totals)}\n}\n`);
  } else {
    print(
      `comparing ${a.id.slice(0, 8)} (${shortTime(a.snapshot.time)}) to ${b.id.slice(0, 8)} (${shortTime(b.snapshot.time)})`,
    );
    const mark = { added: '+', removed: '-', changed: 'M' };
    for await (const c of walk) {
      count(c);
      const slash = c.type === 'dir' ? '/' : '';
      const size =
        c.kind === 'changed'
          ? ` (${formatBytes(c.before ?? 0)} -> ${formatBytes(c.after ?? 0)})`
          : c.type === 'file'
            ? ` (${formatBytes((c.after ?? c.before) as number)})`
            : '';
      print(`${mark[c.kind]}  ${c.path}${slash}${size}`);
    }
    for (const r of rows) {
      const delta =
        r.before !== null && r.after !== null
          ? ` (${r.after - r.before >= 0 ? '+' : ''}${r.after - r.before})`
          : '';
      print(`rows ${r.table}: ${r.before ?? 'absent'} -> ${r.after ?? 'absent'}${delta}`);
    }
    print(
      `${totals.added} added, ${totals.removed} removed, ${totals.changed} changed${rows.length > 0 ? `; ${rows.length} table${rows.length === 1 ? '' : 's'} with other row counts` : ''}`,
    );
  }
  finishPartial('diff', problems);
}

export async function stats(ctx: CliContext, opts: { mode?: string; source?: string }): Promise<void> {
  const mode = opts.mode ?? 'both';
  if (!['raw', 'restore-size', 'both'].includes(mode)) {
    throw new LifeboatError('usage', `[stats] --mode "${mode}" is not known: use raw or restore-size`);
  }
  const repo = await ctx.openRepository();
  const store = await treeReader(repo);
  const raw: RawStats | undefined = mode === 'restore-size' ? undefined : rawStats(repo);
  const problems: (WalkProblem & { id: string })[] = [];
  let restore: RestoreStats | undefined;
  if (mode !== 'raw') {
    const scan = await repo.scanSnapshots();
    for (const line of describeProblems(scan.problems)) process.stderr.write(`lifeboat: warning: ${line}\n`);
    const list = filterSnapshots(scan.snapshots, { source: opts.source }).filter(
      (e) => e.snapshot.kind !== 'drill',
    );
    restore = await restoreStats(repo, store, list, problems);
  }
  if (ctx.options.json) {
    print(JSON.stringify({ ...(raw ? { raw } : {}), ...(restore ? { restore } : {}) }, null, 2));
  } else {
    if (raw) {
      print(
        `stored: ${formatBytes(raw.storedBytes)} in ${raw.packs} packs (${raw.blobs} blobs, ${raw.treeBlobs} of them trees)`,
      );
      print(
        `uncompressed: ${formatBytes(raw.rawBytes)}; compression ratio ${raw.compressionRatio.toFixed(2)}x`,
      );
    }
    if (restore) {
      table(
        ['Source', 'Snapshots', 'Files', 'Restore size (all)', 'Latest'],
        restore.sources.map((s) => [
          s.source,
          `${s.snapshots}`,
          `${s.files}`,
          formatBytes(s.restoreBytes),
          formatBytes(s.latestBytes),
        ]),
      );
      print(
        `restore size of ${restore.snapshots} snapshots: ${formatBytes(restore.restoreBytes)}; deduplication ratio ${restore.dedupRatio.toFixed(2)}x`,
      );
    }
  }
  finishPartial('stats', problems);
}

export async function tag(
  ctx: CliContext,
  opts: { add: string[]; remove: string[]; source?: string },
  ref: string,
): Promise<void> {
  if (opts.add.length === 0 && opts.remove.length === 0) {
    throw new LifeboatError('usage', '[tag] nothing to do: give --add TAG or --remove TAG');
  }
  const repo = await ctx.openRepository();
  const r = await tagSnapshot(repo, ref, { add: opts.add, remove: opts.remove, source: opts.source });
  if (ctx.options.json) print(JSON.stringify(r, null, 2));
  else if (!r.changed) print(`snapshot ${r.id.slice(0, 8)} unchanged: tags ${r.tags.join(',') || '(none)'}`);
  else {
    print(
      `snapshot ${r.previousId.slice(0, 8)} is now ${r.id.slice(0, 8)}: tags ${r.tags.join(',') || '(none)'} (the old id still finds it)`,
    );
  }
}
