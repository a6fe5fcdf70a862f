import { describeAffected } from '../repo/maintenance/damage-map.js';
import { repairIndex, repairPacks, repairSnapshots } from '../repo/maintenance/repair.js';
import type { CliContext } from './context.js';
import { progressFor } from './progress-bar.js';
import { print } from './shell.js';

const would = (dry: boolean | undefined, done: string, maybe: string) => (dry ? maybe : done);

export async function index(ctx: CliContext, opts: { dryRun?: boolean }): Promise<void> {
  const repo = await ctx.openRepository();
  const r = await repairIndex(repo, { dryRun: !!opts.dryRun, progress: progressFor(ctx.options) });
  if (ctx.options.json) return print(JSON.stringify(r));
  for (const name of r.damagedIndexes) print(`index ${name.slice(0, 8)} does not open: replaced`);
  for (const d of r.packsDropped)
    print(
      `pack ${d.pack.slice(0, 8)} is missing from storage: its ${d.blobs} blobs ${would(opts.dryRun, 'are', 'would be')} dropped from the index`,
    );
  for (const p of r.packsAdded)
    print(
      `pack ${p.slice(0, 8)} was in no index: ${would(opts.dryRun, 'indexed', 'would be indexed')} from its header`,
    );
  for (const p of r.packsCorrected)
    print(
      `pack ${p.slice(0, 8)}: index entries differed from its header: ${would(opts.dryRun, 'corrected', 'would be corrected')}`,
    );
  for (const p of r.unreadablePacks)
    print(
      `pack ${p.slice(0, 8)}: its header does not open (\`lifeboat repair packs ${p.slice(0, 8)}\` salvages its blobs)`,
    );
  if (!r.changed) print(`the index is complete: ${r.packs} packs, ${r.blobs} blobs; nothing to do`);
  else if (opts.dryRun)
    print(`would write a new index of ${r.packs} packs, ${r.blobs} blobs (nothing written: --dry-run)`);
  else
    print(
      `wrote a new index of ${r.packs} packs, ${r.blobs} blobs (${r.indexesWritten} files) and removed ${r.indexesRemoved} old index files`,
    );
  if (r.changed && r.packsDropped.length > 0)
    print(
      'next: `lifeboat repair snapshots --forget` cuts what the missing packs held from the snapshots, then back up the affected sources again',
    );
}

export async function packs(ctx: CliContext, opts: { dryRun?: boolean }, ids: string[]): Promise<void> {
  const repo = await ctx.openRepository();
  const r = await repairPacks(repo, ids, { dryRun: !!opts.dryRun, progress: progressFor(ctx.options) });
  if (ctx.options.json) return print(JSON.stringify(r, null, 2));
  if (r.repaired.length === 0) {
    print(`no damaged packs: ${r.packsRead} packs read and verified; nothing to do`);
    return;
  }
  for (const p of r.repaired) {
    const elsewhere = p.elsewhere > 0 ? `, ${p.elsewhere} stored elsewhere too` : '';
    print(
      `pack ${p.pack.slice(0, 8)} (${p.problem}): ${p.salvaged} of ${p.blobs} blobs ${would(opts.dryRun, 'salvaged', 'would be salvaged')}${elsewhere}, ${p.lost.length} lost; the pack ${would(opts.dryRun, 'was removed', 'would be removed')}`,
    );
  }
  if (r.affects.length > 0) {
    print(
      `the lost blobs affect ${r.affects.length} snapshot${r.affects.length === 1 ? '' : 's'} (id, source, time, paths):`,
    );
    for (const a of r.affects) print(`  ${describeAffected(a)}`);
    print(
      'next: `lifeboat repair snapshots --forget` cuts them from the snapshots, then back up the affected sources again',
    );
  }
  if (opts.dryRun) print('nothing written: --dry-run');
}

export async function snapshots(
  ctx: CliContext,
  opts: { dryRun?: boolean; forget?: boolean },
): Promise<void> {
  const repo = await ctx.openRepository();
  const r = await repairSnapshots(repo, { dryRun: !!opts.dryRun, forget: !!opts.forget });
  if (ctx.options.json) return print(JSON.stringify(r, null, 2));
  for (const s of r.repaired) {
    const more = s.cutCount > s.cut.length ? ` (and ${s.cutCount - s.cut.length} more)` : '';
    const into = s.newId ? ` -> ${s.newId.slice(0, 8)}` : '';
    const forgotten = s.forgotten ? ', original removed' : '';
    print(
      `snapshot ${s.id.slice(0, 8)}${into}  ${s.source}  ${s.time.replace('T', ' ').slice(0, 19)}  cut: ${s.cut.join(', ')}${more}${forgotten}`,
    );
  }
  for (const d of r.damaged)
    print(
      `snapshot ${d.id.slice(0, 8)} does not open (${d.problem}): ${d.removed ? 'removed' : 'kept (--forget removes it)'}`,
    );
  const n = r.repaired.length;
  print(
    n === 0
      ? `${r.snapshots} snapshots read: none lost data; nothing to do`
      : `${n} of ${r.snapshots} snapshots ${would(opts.dryRun, 'repaired', 'would be repaired')}${opts.dryRun ? ' (nothing written: --dry-run)' : opts.forget ? '' : '; the originals stay (--forget removes them)'}`,
  );
}
