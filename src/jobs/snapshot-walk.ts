/**
 * @module jobs/snapshot-walk
 * Looking inside snapshots without restoring: walking a tree (ls, find) and comparing two
 * (diff). Trees are read one folder at a time; a folder that does not read is named as a
 * problem and the walk goes on around it.
 */
import picomatch from 'picomatch';
import { describe, LifeboatError } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import type { SnapshotEntry } from '../repo/snapshot.js';
import type { TreeNode } from '../sources/source.js';

/** A tree entry and where it is: `path` is '/'-separated from the snapshot's root. */
export interface WalkedNode {
  path: string;
  node: TreeNode;
}

/** Something the walk could not read or that `repair` marked as lost. */
export interface WalkProblem {
  path: string;
  message: string;
}

/** Every entry below tree `root` (depth first, in the tree's order), folders before their entries. */
export async function* walkTree(
  store: RepoContentStore,
  root: string,
  prefix: string,
  problems: WalkProblem[],
): AsyncGenerator<WalkedNode> {
  let nodes: TreeNode[];
  try {
    nodes = (await store.loadTree(root)).nodes;
  } catch (err) {
    problems.push({ path: prefix || '/', message: `folder listing could not be read: ${describe(err)}` });
    return;
  }
  for (const node of nodes) {
    const path = prefix ? `${prefix}/${node.name}` : node.name;
    if (node.damaged) problems.push({ path, message: damagedText(node) });
    yield { path, node };
    if (node.type === 'dir' && node.subtree) yield* walkTree(store, node.subtree, path, problems);
  }
}

function damagedText(node: TreeNode): string {
  if (node.damaged?.listingLost) return 'its listing was lost (cut by `lifeboat repair snapshots`)';
  return `${node.damaged?.lostBytes ?? 0} bytes were lost (cut by \`lifeboat repair snapshots\`)`;
}

/**
 * The tree id of folder `path` ("" or "/" for the root) of snapshot `id` (root tree `root`);
 * `component` names the caller in the error when there is no such folder.
 */
export async function folderTree(
  store: RepoContentStore,
  snapshot: { id: string; root: string },
  path: string,
  component = 'ls',
): Promise<string> {
  const parts = path.split('/').filter((p) => p.length > 0 && p !== '.');
  let tree = snapshot.root;
  for (let i = 0; i < parts.length; i++) {
    const node = (await store.loadTree(tree)).nodes.find((n) => n.name === parts[i]);
    if (node?.type !== 'dir' || !node.subtree) {
      throw new LifeboatError(
        'not_found',
        `[${component}] no folder ${parts.slice(0, i + 1).join('/')} in snapshot ${snapshot.id.slice(0, 8)}`,
      );
    }
    tree = node.subtree;
  }
  return tree;
}

/** A store to read trees with: the index is loaded once. */
export async function treeReader(repo: Repository): Promise<RepoContentStore> {
  await repo.loadIndex();
  return new RepoContentStore(repo);
}

export interface FindMatch {
  id: string;
  source: string;
  time: string;
  path: string;
  node: TreeNode;
}

/**
 * Entries of `snapshots` whose base name or full path matches the glob `pattern`
 * (picomatch; dotfiles match). Trees shared between snapshots are read once (cached).
 */
export async function* findInSnapshots(
  store: RepoContentStore,
  snapshots: readonly SnapshotEntry[],
  pattern: string,
  problems: (WalkProblem & { id: string })[],
): AsyncGenerator<FindMatch> {
  const match = picomatch(pattern, { dot: true });
  for (const { id, snapshot } of snapshots) {
    const mine: WalkProblem[] = [];
    for await (const { path, node } of walkTree(store, snapshot.root, '', mine)) {
      if (match(node.name) || match(path)) {
        yield { id, source: snapshot.source, time: snapshot.time, path, node };
      }
    }
    for (const p of mine) problems.push({ id, ...p });
  }
}

export type ChangeKind = 'added' | 'removed' | 'changed';

export interface TreeChange {
  kind: ChangeKind;
  path: string;
  type: string;
  /** Size in A (removed, changed) and in B (added, changed); files only. */
  before?: number;
  after?: number;
}

/**
 * The differences between two trees, in path order. Folders with the same tree id are
 * equal and skipped; a file changed when its type, content or size differs (metadata alone
 * is not a change). Entries of an added or removed folder are listed one by one.
 */
export async function* diffTrees(
  store: RepoContentStore,
  a: string | undefined,
  b: string | undefined,
  prefix: string,
  problems: WalkProblem[],
): AsyncGenerator<TreeChange> {
  if (a === b) return;
  const left = await folderNodes(store, a, prefix, problems);
  const right = await folderNodes(store, b, prefix, problems);
  if (left === undefined || right === undefined) return;
  const names = [...new Set([...left.keys(), ...right.keys()])].sort((x, y) =>
    Buffer.compare(Buffer.from(x), Buffer.from(y)),
  );
  for (const name of names) {
    const path = prefix ? `${prefix}/${name}` : name;
    const x = left.get(name);
    const y = right.get(name);
    if (x && y && x.type === 'dir' && y.type === 'dir') {
      yield* diffTrees(store, x.subtree, y.subtree, path, problems);
      continue;
    }
    if (x && y && x.type === y.type && sameContent(x, y)) continue;
    if (x && y && x.type === y.type) {
      yield { kind: 'changed', path, type: y.type, before: sizeOf(x), after: sizeOf(y) };
      continue;
    }
    if (x) yield* whole('removed', path, x, store, problems);
    if (y) yield* whole('added', path, y, store, problems);
  }
}

async function folderNodes(
  store: RepoContentStore,
  tree: string | undefined,
  path: string,
  problems: WalkProblem[],
): Promise<Map<string, TreeNode> | undefined> {
  if (!tree) return new Map();
  try {
    return new Map((await store.loadTree(tree)).nodes.map((n) => [n.name, n]));
  } catch (err) {
    problems.push({ path: path || '/', message: `folder listing could not be read: ${describe(err)}` });
    return undefined;
  }
}

async function* whole(
  kind: 'added' | 'removed',
  path: string,
  node: TreeNode,
  store: RepoContentStore,
  problems: WalkProblem[],
): AsyncGenerator<TreeChange> {
  const change = (p: string, n: TreeNode): TreeChange => ({
    kind,
    path: p,
    type: n.type,
    ...(kind === 'removed' ? { before: sizeOf(n) } : { after: sizeOf(n) }),
  });
  yield change(path, node);
  if (node.type !== 'dir' || !node.subtree) return;
  for await (const w of walkTree(store, node.subtree, path, problems)) yield change(w.path, w.node);
}

function sizeOf(n: TreeNode): number | undefined {
  return n.type === 'file' ? (n.size ?? 0) : undefined;
}

function sameContent(x: TreeNode, y: TreeNode): boolean {
  if (x.type === 'symlink') return x.target === y.target;
  if (x.type !== 'file') return true;
  if (x.size !== y.size || x.hardlinkTo !== y.hardlinkTo) return false;
  const cx = x.content ?? [];
  const cy = y.content ?? [];
  return cx.length === cy.length && cx.every((c, i) => c === cy[i]);
}

export interface RowChange {
  table: string;
  before: number | null;
  after: number | null;
}

/** Per table (collection, key space): row counts from two dumps' statistics, where they differ. */
export function diffRows(a: SnapshotEntry, b: SnapshotEntry): RowChange[] {
  const x = a.snapshot.stats.rows ?? {};
  const y = b.snapshot.stats.rows ?? {};
  const tables = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
  return tables
    .map((table) => ({ table, before: x[table] ?? null, after: y[table] ?? null }))
    .filter((c) => c.before !== c.after);
}

/** Whether a snapshot holds dump artifacts rather than a file tree. */
export function isDump(entry: SnapshotEntry): boolean {
  return entry.snapshot.kind === 'logical' || entry.snapshot.kind === 'physical';
}
