/**
 * @module server/services/backup-stats
 * The statistics behind the dashboard's charts: each backup's size and duration and the
 * repository's growth (from the snapshot list), and backup outcomes per day (from the
 * catalog). Memoized per version of the snapshot list.
 */

import { belongsTo } from '../../sources/source-units.js';
import type { ApiContext } from '../api-context.js';
import type { StatsJson } from '../api-schemas.js';

/** Series since `since` (ms), of one source (and its units) or of all. */
export function backupStats(
  ctx: Pick<ApiContext, 'snapshots' | 'catalog'>,
  filter: { source?: string; since: number },
): Promise<StatsJson> {
  const { source, since } = filter;
  const key = `stats:${source ?? ''}:${since}`;
  const stats = ctx.snapshots.memo(key, async (): Promise<StatsJson> => {
    const backups: StatsJson['backups'] = [];
    const growth: StatsJson['growth'] = [];
    let total = 0;
    for (const { id, snapshot: s } of ctx.snapshots.entries()) {
      if (s.kind === 'drill') continue;
      if (source && !belongsTo(s.source, source)) continue;
      const added = s.backup?.bytesAdded ?? 0;
      total += added;
      if (Date.parse(s.time) < since) continue;
      growth.push({ time: s.time, bytes: total });
      backups.push({
        source: s.source,
        snapshot: id,
        time: s.time,
        bytes_read: s.backup?.bytesRead ?? 0,
        bytes_added: added,
        duration_ms: s.backup?.durationMs ?? 0,
      });
    }
    const days = new Map<string, { day: string; succeeded: number; failed: number }>();
    const jobs = await ctx.catalog.listJobs({
      kind: 'backup',
      source,
      since: new Date(since).toISOString(),
      limit: 100_000,
    });
    for (const j of jobs) {
      if (j.status !== 'succeeded' && j.status !== 'failed') continue;
      const day = (j.finished_at ?? j.created_at).slice(0, 10);
      const d = days.get(day) ?? { day, succeeded: 0, failed: 0 };
      d[j.status]++;
      days.set(day, d);
    }
    const daily = [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1));
    return { since: new Date(since).toISOString(), backups, daily, growth };
  });
  // A failed catalog read is not kept: the next request asks again.
  stats.catch(() => ctx.snapshots.forget(key));
  return stats;
}
