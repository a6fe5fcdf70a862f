/**
 * @module sources/redis/redis-engine
 * The redis engine as the registry holds it: a database number and a key pattern as restore
 * scopes; a drill restores into a throwaway redis-server and runs redis-check-rdb on the RDB
 * file as the repository holds it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadArtifacts, writeArtifactToFile } from '../artifact.js';
import {
  type CheckOutcome,
  lastLines,
  needScratch,
  onPath,
  runProgram,
  skippedCheck,
  timedCheck,
} from '../drill-checks.js';
import { RESTORE_SCOPES } from '../restore-scopes.js';
import type { Engine, IntegrityContext } from '../source.js';

/** The snapshot's RDB file, as the repository holds it, through redis-check-rdb. */
async function redisCheckRdb({ snapshot, withStore }: IntegrityContext): Promise<CheckOutcome> {
  const tool = onPath('redis-check-rdb');
  if (!tool) return skippedCheck('redis-check-rdb not found (apt-get install redis-tools)');
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-drill-'));
  try {
    return await withStore(async (store) => {
      const nodes = await loadArtifacts(store, snapshot.root);
      const wanted = typeof snapshot.meta.artifact === 'string' ? snapshot.meta.artifact : 'dump.rdb';
      const node = nodes.find((n) => n.name === wanted) ?? nodes[0];
      if (!node) return { ok: false, detail: 'the snapshot holds no RDB file' };
      const file = join(dir, 'dump.rdb');
      await writeArtifactToFile(store, node, file);
      const r = await runProgram(tool, [file]);
      const out = r.output.trim();
      const ok = r.code === 0 && /RDB looks OK/i.test(out);
      return { ok, detail: ok ? `${node.size} bytes: RDB looks OK` : `exit ${r.code}: ${lastLines(out)}` };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const redisEngine: Engine = {
  load: async () => (await import('./redis-source.js')).createRedisSource,
  restore: { scopes: [RESTORE_SCOPES.db, RESTORE_SCOPES.pattern] },
  stats: [
    { name: 'keys', help: 'keys per database number', drill: 'equal' },
    { name: 'keysTotal', help: 'keys in all', drill: 'equal' },
    { name: 'expires', help: 'keys with a time to live', drill: 'none' },
    { name: 'functions', help: 'function libraries', drill: 'none' },
    { name: 'moduleKeys', help: 'keys of module types', drill: 'none' },
    { name: 'bytes', help: 'bytes of the RDB file', drill: 'none' },
  ],
  drill: {
    scratch: async () => {
      const { startRedis, redisUnavailable } = await import('../../scratch/redis.js');
      needScratch('redis-server', redisUnavailable());
      const server = await startRedis();
      return { to: server.url, kind: 'throwaway redis-server', cleanup: () => server.stop() };
    },
    integrity: async (ctx) => [await timedCheck('redis-check-rdb', ctx.now, () => redisCheckRdb(ctx))],
  },
};
