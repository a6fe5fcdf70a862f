/**
 * @module sources/command/command-engine
 * The command engine as the registry holds it: its one artifact restored whole; a drill reads
 * the restored file back and compares its SHA-256 with the one the snapshot recorded.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { scratchFolder } from '../../scratch/scratch-folder.js';
import { timedCheck } from '../drill-checks.js';
import type { Engine } from '../source.js';

export const commandEngine: Engine = {
  load: async () => (await import('./command-source.js')).createCommandSource,
  restore: { scopes: [] },
  stats: [
    { name: 'bytes', help: 'bytes the command printed', drill: 'none' },
    { name: 'sha256', help: 'SHA-256 of what it printed', drill: 'none' },
  ],
  drill: {
    scratch: () => scratchFolder('temporary folder'),
    integrity: async ({ target, snapshot, now }) => [
      await timedCheck('artifact sha256', now, async () => {
        const file = target.restored;
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
        const got = hash.digest('hex');
        const want = snapshot.stats.sha256;
        return got === want
          ? { ok: true, detail: `${file}: ${got.slice(0, 16)}…, as recorded` }
          : {
              ok: false,
              detail: `${file}: sha256 ${got.slice(0, 16)}…, the snapshot recorded ${String(want).slice(0, 16)}…`,
            };
      }),
    ],
  },
};
