/**
 * @module repo/maintenance/damage-map
 * What a damaged object costs: which snapshots, and which paths in them (for dumps, the
 * artifact's name), use the blobs it took with it. Each snapshot's trees are walked once, and
 * a subtree found whole is not walked again for the next snapshot; only the blobs asked
 * about are mapped, so memory grows with the damage, not with the repository.
 */
import { describe } from '../../errors.js';
import { RepoContentStore } from '../content-store.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';
import type { SnapshotEntry } from '../snapshot.js';
import type { Tree } from '../tree.js';

/** Paths listed per snapshot and damage; the rest are counted. */
export const MAX_PATHS = 50;

export interface Affected {
  snapshot: string;
  source: string;
  time: string;
  /** Paths from the snapshot root ("dir/" for a whole folder whose listing is lost). */
  paths: string[];
  /** How many paths in all (paths lists the first MAX_PATHS). */
  pathCount: number;
}

/**
 * What the walk asks about each blob a snapshot uses (a data blob of a file, or the tree of a
 * folder): the damage it belongs to, or undefined when it is whole.
 */
export type Classify<K> = (blob: string, type: 'data' | 'tree') => K | undefined;

export interface MapOptions<K> {
  classify: Classify<K>;
  /** A tree that is indexed but does not open: the damage to count it under. */
  unreadableTree(treeId: string, path: string, err: unknown): K;
  /** True when a tree counted under `key` still opens (its pack is in no index): walk into it. */
  readable?(key: K): boolean;
  /** Called once per (tree, blob) with the damage found there: check reports it as an error. */
  found?(key: K, blob: string, where: string): void;
  /** Each tree that opens, once (at the first snapshot that has it), with where it is. */
  tree?(nodes: Tree['nodes'], dir: string, where: string): void;
}

/** For each damage, the snapshots (oldest first) and paths that depend on it. */
export async function mapAffected<K>(
  repo: Repository,
  snapshots: readonly SnapshotEntry[],
  options: MapOptions<K>,
): Promise<Map<K, Affected[]>> {
  const store = new RepoContentStore(repo);
  const whole = new Set<string>();
  const reported = new Set<string>();
  const out = new Map<K, Affected[]>();
  for (const { id, snapshot } of snapshots) {
    const bySnapshot = new Map<K, Affected>();
    const hit = (key: K, path: string) => {
      let a = bySnapshot.get(key);
      if (!a) {
        a = { snapshot: id, source: snapshot.source, time: snapshot.time, paths: [], pathCount: 0 };
        bySnapshot.set(key, a);
      }
      a.pathCount++;
      if (a.paths.length < MAX_PATHS) a.paths.push(path);
    };
    const where = `snapshot ${id.slice(0, 8)}`;
    const report = (key: K, blob: string, treeId: string, path: string) => {
      const once = `${treeId}/${blob}`;
      if (reported.has(once)) return;
      reported.add(once);
      options.found?.(key, blob, `${where}: ${path}`);
    };
    /** Walks a tree; true when nothing below it is damaged. */
    const walk = async (treeId: string, dir: string, parent: string): Promise<boolean> => {
      if (whole.has(treeId)) return true;
      const shown = dir === '' ? '/' : `${dir}/`;
      let key = options.classify(treeId, 'tree');
      let nodes: Tree['nodes'] = [];
      let clean = true;
      if (key !== undefined && options.readable?.(key)) {
        report(key, treeId, parent, shown);
        hit(key, shown);
        key = undefined;
        clean = false;
      }
      if (key === undefined) {
        try {
          nodes = (await store.loadTree(treeId)).nodes;
        } catch (err) {
          key = options.unreadableTree(treeId, shown, err);
        }
      }
      if (key !== undefined) {
        report(key, treeId, parent, shown);
        hit(key, shown);
        return false;
      }
      options.tree?.(nodes, dir, where);
      for (const node of nodes) {
        const path = dir === '' ? node.name : `${dir}/${node.name}`;
        const keys = new Set<K>();
        for (const c of node.content ?? []) {
          const k = options.classify(c, 'data');
          if (k === undefined) continue;
          clean = false;
          report(k, c, treeId, path);
          keys.add(k);
        }
        for (const k of keys) hit(k, path);
        if (node.subtree && !(await walk(node.subtree, path, treeId))) clean = false;
      }
      if (clean) whole.add(treeId);
      return clean;
    };
    await walk(snapshot.root, '', '');
    for (const [key, a] of bySnapshot) {
      const list = out.get(key) ?? [];
      list.push(a);
      out.set(key, list);
    }
  }
  return out;
}

/** One line per snapshot: "1a2b3c4d  photos  2026-12-07 10:00:00  a.txt, b/c.bin (and 3 more)". */
export function describeAffected(a: Affected): string {
  const more = a.pathCount > a.paths.length ? ` (and ${a.pathCount - a.paths.length} more)` : '';
  return `${a.snapshot.slice(0, 8)}  ${a.source}  ${a.time.replace('T', ' ').slice(0, 19)}  ${a.paths.join(', ')}${more}`;
}

/** An error's message without a hint to run `lifeboat check`: check's own output must not say that. */
export function withoutCheckHint(err: unknown): string {
  return describe(err)
    .replace(/\s*\(run `?lifeboat check[^)]*\)/g, '')
    .replace(/;? run `lifeboat check[^`]*`/g, '');
}

/**
 * Every snapshot that opens, oldest first; `onDamaged` hears of each snapshot file that does
 * not (one damaged file must not hide the others).
 */
export async function readableSnapshots(
  repo: Repository,
  onDamaged: (id: string, err: unknown) => void = () => {},
): Promise<SnapshotEntry[]> {
  const out: SnapshotEntry[] = [];
  for await (const f of partsOf(repo).backend.list('snapshot')) {
    try {
      out.push(await repo.readSnapshot(f.name, f.modified));
    } catch (err) {
      onDamaged(f.name, err);
    }
  }
  return out.sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id));
}
