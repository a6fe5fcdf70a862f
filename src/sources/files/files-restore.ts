/**
 * @module sources/files/files-restore
 * Restore of a file tree snapshot: target checks, `--include` selection, then a depth-first
 * walk in the same order as the backup, so the first entry of a hard-linked inode (the one
 * with the content) is restored before the links to it. Directory metadata is applied after
 * the directory's contents, which would otherwise change its mtime.
 */
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, errnoCode, isDamage, LifeboatError, writeFailed } from '../../errors.js';
import { makeDir } from '../../make-dir.js';
import type {
  ContentStore,
  DamagedItem,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Tree,
  TreeNode,
} from '../source.js';
import {
  checkedNameBytes,
  hardlinkSegment,
  joinPath,
  nodeNameBytes,
  nodeTargetBytes,
  parseHardlinkPath,
} from './files-meta.js';
import {
  applyMeta,
  type EntryMeta,
  ensureDir,
  makeSpecial,
  placeEntry,
  writeContent,
} from './files-write.js';

/** Paths returned in `items` by a real restore; a dry run returns all of them. */
const MAX_ITEMS = 100;
const MAX_WARNINGS = 100;

export interface RestoreConfig {
  path: string;
}

/** Which part of a directory to restore: all of it, or only the named children. */
interface Selection {
  all: boolean;
  children: Map<string, Selection>;
}

const EVERYTHING: Selection = { all: true, children: new Map() };

function includeSegments(include: string): string[] {
  return include.split('/').filter((s) => s !== '' && s !== '.');
}

function notInSnapshot(include: string): LifeboatError {
  return new LifeboatError(
    'not_found',
    `[restore] path "${include}" is not in snapshot; list its paths with lifeboat restore SNAPSHOT --dry-run`,
  );
}

async function loadChecked(store: ContentStore, id: string | undefined, display: string) {
  if (id === undefined) {
    throw new LifeboatError('repo_corrupt', `[restore] directory ${display} has no tree in the snapshot`);
  }
  return store.loadTree(id);
}

/** Checks that every include path exists (so nothing is written for a typo) and builds the selection. */
async function resolveIncludes(store: ContentStore, root: string, includes: string[] | undefined) {
  if (!includes || includes.length === 0) return EVERYTHING;
  const top: Selection = { all: false, children: new Map() };
  for (const include of includes) {
    const segments = includeSegments(include);
    let treeId: string | undefined = root;
    let sel = top;
    for (const [i, segment] of segments.entries()) {
      const tree = await loadChecked(store, treeId, segment);
      const node = tree.nodes.find((n) => n.name === segment);
      if (!node || (i < segments.length - 1 && node.type !== 'dir')) throw notInSnapshot(include);
      treeId = node.subtree;
      let next = sel.children.get(segment);
      if (!next) {
        next = { all: false, children: new Map() };
        sel.children.set(segment, next);
      }
      sel = next;
    }
    sel.all = true;
  }
  return top;
}

function resolveTarget(to: string | undefined, configPath: string, single: boolean): string {
  if (to === undefined) return single ? nodePath.dirname(configPath) : configPath;
  if (to.startsWith('file://')) return fileURLToPath(to);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(to)) {
    throw new LifeboatError(
      'usage',
      `[restore] target ${to} is not a path; a files snapshot restores into a folder`,
    );
  }
  return nodePath.resolve(to);
}

/** Returns whether the target folder already existed; refuses a non-empty one without overwrite. */
async function checkTarget(target: string, options: RestoreOptions, warnings: string[]): Promise<boolean> {
  let entries: string[];
  try {
    const st = await fs.stat(target);
    if (!st.isDirectory()) {
      throw new LifeboatError(
        'usage',
        `[restore] target ${target} is not a directory; choose a folder with --to`,
      );
    }
    entries = await fs.readdir(target);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (entries.length > 0 && !options.overwrite) {
    const message = `[restore] target ${target} is not empty; restore into an empty or new folder, or pass --overwrite to replace files there`;
    if (!options.dryRun) throw new LifeboatError('target_not_empty', message);
    warnings.push(message);
  }
  return true;
}

/** Plain files written at once during a restore. */
const PARALLEL_FILES = 8;

class TreeRestorer {
  readonly stats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, entries: 0 };
  readonly items: string[] = [];
  readonly warnings: string[] = [];
  /**
   * What damaged data kept out: each file (and folder whose listing is damaged) by its path
   * in the snapshot. Held whole, as every one is reported; it grows with the damage only.
   */
  readonly damaged: DamagedItem[] = [];
  /** Hard-link path of each restored inode's first entry -> where it now is. */
  private readonly linked = new Map<string, Buffer>();
  /** Hard-link path of each inode whose content is damaged -> why. */
  private readonly linkedDamage = new Map<string, string>();

  constructor(
    private readonly ctx: RestoreContext,
    private readonly options: RestoreOptions,
    private readonly targetDisplay: string,
  ) {}

  private get writing(): boolean {
    return !this.options.dryRun;
  }

  private record(rel: string): void {
    this.stats.entries++;
    if (this.options.dryRun || this.items.length < MAX_ITEMS) this.items.push(rel);
  }

  private warn(rel: string, why: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(`${rel}: ${why}`);
  }

  /** Loads a folder's listing; a damaged one is recorded (the folder is left out) and gives undefined. */
  async loadDir(treeId: string | undefined, rel: string): Promise<Tree | undefined> {
    try {
      return await loadChecked(this.ctx.store, treeId, rel);
    } catch (err) {
      if (!isDamage(err)) throw err;
      this.damaged.push({ path: `${rel}/`, reason: describe(err) });
      return undefined;
    }
  }

  async restoreDir(tree: Tree, dir: Buffer, rel: string, link: string, sel: Selection) {
    const seen = new Set<string>();
    // Plain files are written several at a time (waiting on one file's I/O at a time made
    // restores of small-file trees slow); everything in a folder ends before its metadata.
    const tasks: Promise<void>[] = [];
    for (const node of tree.nodes) {
      const child = sel.all ? sel : sel.children.get(node.name);
      if (!child) continue;
      const name = checkedNameBytes(node);
      const key = name.toString('latin1');
      if (seen.has(key)) {
        throw new LifeboatError(
          'repo_corrupt',
          `[restore] ${rel || '/'} lists ${node.name} twice (run lifeboat check)`,
        );
      }
      seen.add(key);
      const path = joinPath(dir, name);
      const childRel = rel === '' ? node.name : `${rel}/${node.name}`;
      const childLink = link === '' ? hardlinkSegment(name) : `${link}/${hardlinkSegment(name)}`;
      if (node.type === 'dir') {
        this.record(`${childRel}/`);
        if (node.damaged?.listingLost)
          this.warn(
            `${childRel}/`,
            'damaged: its listing was lost (cut by `lifeboat repair snapshots`); restored empty',
          );
        // Listing first: a folder whose listing is damaged is not created at all.
        const subtree = await this.loadDir(node.subtree, childRel);
        if (!subtree) continue;
        if (this.writing) await this.guard(childRel, () => ensureDir(path, this.options.overwrite));
        await this.restoreDir(subtree, path, childRel, childLink, child);
        if (this.writing) await this.guard(childRel, () => applyMeta(path, this.meta(node, `${childRel}/`)));
        this.stats.dirs++;
      } else {
        this.record(childRel);
        const linked = node.hardlinkTo !== undefined || (node.nlink ?? 1) > 1;
        if (node.type === 'file' && !linked && this.writing) {
          await this.slot();
          const task = this.guard(childRel, () => this.restoreEntry(path, node, childRel, childLink)).finally(
            () => this.release(),
          );
          task.catch(() => {}); // settled below
          tasks.push(task);
        } else {
          await this.guard(childRel, () => this.restoreEntry(path, node, childRel, childLink));
        }
      }
    }
    const failed = (await Promise.allSettled(tasks)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private active = 0;
  private waiting: (() => void)[] = [];

  private async slot(): Promise<void> {
    while (this.active >= PARALLEL_FILES) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  private async guard(rel: string, action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      throw writeFailed('restore', nodePath.posix.join(this.targetDisplay, rel), err);
    }
  }

  private async restoreEntry(path: Buffer, node: TreeNode, rel: string, link: string): Promise<void> {
    const { overwrite } = this.options;
    switch (node.type) {
      case 'file':
        await this.restoreFile(path, node, rel, link);
        return;
      case 'symlink':
        this.stats.symlinks++;
        if (!this.writing) return;
        await placeEntry(path, overwrite, (p) => fs.symlink(nodeTargetBytes(node), p));
        await applyMeta(path, this.meta(node, rel));
        return;
      case 'fifo':
      case 'chardev':
      case 'blockdev': {
        if (node.type !== 'fifo' && this.options.noPrivileges && !this.options.devices) {
          this.warn(
            rel,
            'device node, refused (restored without privileges: the snapshot was written by a write-only key, or --no-privileges; --devices creates it)',
          );
          return;
        }
        if (!this.writing) return;
        let skipped: string | undefined;
        await placeEntry(path, overwrite, async (p) => {
          skipped = await makeSpecial(p, node);
          return skipped === undefined;
        });
        if (skipped !== undefined) this.warn(rel, skipped);
        else await applyMeta(path, this.meta(node, rel));
        return;
      }
      default:
        this.warn(rel, `${node.type}, skipped`);
    }
  }

  private async restoreFile(path: Buffer, node: TreeNode, rel: string, link: string): Promise<void> {
    this.stats.files++;
    let source: TreeNode = node;
    /** This inode's key among the hard links: the path of its first entry. */
    let inode = link;
    if (node.hardlinkTo !== undefined) {
      const first = this.linked.get(node.hardlinkTo);
      const damage = this.linkedDamage.get(node.hardlinkTo);
      if (damage !== undefined) {
        this.stats.files--;
        this.damaged.push({ path: rel, reason: damage });
        return;
      }
      if (first) {
        if (this.writing) await placeEntry(path, this.options.overwrite, (p) => fs.link(first, p));
        return;
      }
      // The first entry was left out by --include: this one gets the content instead.
      source = await this.findLinked(node.hardlinkTo, rel);
      inode = node.hardlinkTo;
    }
    if (source.damaged && !source.damaged.listingLost)
      this.warn(
        rel,
        `damaged: ${source.damaged.lostBytes ?? 'some'} bytes were lost and cut out by \`lifeboat repair snapshots\`; restored what remains`,
      );
    if (node.hardlinkTo !== undefined || (node.nlink ?? 1) > 1) this.linked.set(inode, path);
    const size = source.size ?? 0;
    this.stats.bytes += size;
    if (!this.writing) return;
    const chunks = source.content ?? [];
    const progress = this.ctx.progress;
    try {
      // Always through a temporary name: a file whose content turns out damaged, or a
      // restore killed midway, never leaves part of a file under the real name.
      await placeEntry(
        path,
        this.options.overwrite,
        (p) =>
          writeContent(
            p,
            // Opened here: this restore already reads PARALLEL_FILES streams at once.
            this.ctx.store.readContent(chunks, { sameThread: true }),
            size,
            rel,
            (n) => progress.advance(n),
            this.meta(node, rel),
          ),
        true,
      );
    } catch (err) {
      if (!isDamage(err)) throw err;
      this.damaged.push({ path: rel, reason: describe(err) });
      this.linked.delete(inode);
      this.linkedDamage.set(inode, describe(err));
      this.stats.files--;
      this.stats.bytes -= size;
      return;
    }
  }

  /** The metadata to apply to `node`: without setuid/setgid bits when restoring without privileges. */
  private meta(node: TreeNode, rel: string): TreeNode {
    if (!this.options.noPrivileges || node.mode === undefined || (node.mode & 0o6000) === 0) return node;
    this.warn(rel, 'setuid/setgid bits dropped (restored without privileges)');
    return { ...node, mode: node.mode & ~0o6000 };
  }

  /** The node a hard link points at, found by its path from the snapshot root. */
  private async findLinked(hardlinkTo: string, rel: string): Promise<TreeNode> {
    let treeId: string | undefined = this.ctx.root;
    let found: TreeNode | undefined;
    for (const segment of parseHardlinkPath(hardlinkTo)) {
      const tree = await loadChecked(this.ctx.store, treeId, rel);
      found = tree.nodes.find((n) => nodeNameBytes(n).equals(segment));
      treeId = found?.subtree;
      if (!found) break;
    }
    if (found?.type !== 'file' || found.content === undefined) {
      throw new LifeboatError(
        'repo_corrupt',
        `[restore] hard link ${rel} points at a missing file (run lifeboat check)`,
      );
    }
    return found;
  }
}

function rootMeta(meta: Record<string, unknown>): EntryMeta | undefined {
  const r = meta.rootDir;
  if (typeof r !== 'object' || r === null) return undefined;
  return { ...(r as Omit<EntryMeta, 'type'>), type: 'dir' };
}

/** Restores a files snapshot into `options.to`, or where it came from. */
export async function restoreFiles(
  config: RestoreConfig,
  ctx: RestoreContext,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const single = ctx.meta.pathType === 'file';
  const target = resolveTarget(options.to, config.path, single);
  const selection = await resolveIncludes(ctx.store, ctx.root, options.include);
  const restorer = new TreeRestorer(ctx, options, target);
  const existed = await checkTarget(target, options, restorer.warnings);
  if (!options.dryRun) {
    if (!existed) await makeDir(target).catch((err) => Promise.reject(writeFailed('restore', target, err)));
    const hasIncludes = options.include !== undefined && options.include.length > 0;
    ctx.progress.start('restore', hasIncludes ? undefined : ctx.stats.bytes);
  }
  try {
    const root = await loadChecked(ctx.store, ctx.root, '');
    await restorer.restoreDir(root, Buffer.from(target), '', '', selection);
    // Only a folder this restore created takes the snapshot root's metadata; an existing one is the user's.
    const meta = rootMeta(ctx.meta);
    if (!options.dryRun && !existed && !single && meta) {
      await applyMeta(Buffer.from(target), meta).catch((err) =>
        Promise.reject(writeFailed('restore', target, err)),
      );
    }
  } finally {
    if (!options.dryRun) ctx.progress.done();
  }
  const stats: Record<string, unknown> = { ...restorer.stats };
  if (restorer.warnings.length > 0) stats.warnings = restorer.warnings;
  const result: RestoreResult = { target, items: restorer.items, stats };
  if (restorer.damaged.length > 0) {
    const lost = new Set(restorer.damaged.map((d) => d.path));
    result.items = result.items.filter((item) => !lost.has(item));
    result.damaged = restorer.damaged;
  }
  return result;
}
