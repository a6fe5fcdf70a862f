/**
 * @module testing/source-contract
 * The tests every source engine must pass, registered with node:test: through a real
 * repository, it backs the engine's data up, restores it elsewhere whole and by each restore
 * scope it declares, dumps its artifact and drills it. Each engine's test file calls
 * runSourceContract() with a factory for live data (a folder, a file, a throwaway server);
 * nothing here knows which engine it is given. Every skip prints its reason.
 */
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { runBackup } from '../jobs/backup.js';
import { countChecks, countedStats, drillFailure, runDrill } from '../jobs/drill.js';
import { runDump } from '../jobs/dump.js';
import { runRestore } from '../jobs/restore.js';
import { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { createSource, engineDeclaration, type SourceConfig } from '../sources/registry.js';
import { ALL_SCOPES } from '../sources/restore-scopes.js';
import type { RestoreOptions, ScopeField } from '../sources/source.js';
import { createLocalBackend } from '../storage/local/local-backend.js';

/** A restore narrowed by one scope, and what it must have left at the target. */
export interface ScopedCase {
  /** The scope's value(s), e.g. `{ tables: ['users'] }`. */
  options: Partial<RestoreOptions>;
  /** Throws unless the target holds what the scope chose (and nothing it left out). */
  check(target: string): Promise<void>;
}

export interface SourceUnderTest {
  /** The source's settings (with `type`), naming live data the factory made. */
  config: SourceConfig;
  /** A fresh, empty place to restore to: a path, or the URL of an empty database. */
  target(): Promise<string>;
  /**
   * The data as comparable text (a digest of every row, key, file): at `target`, or at the
   * source when undefined. A whole restore gives back the source's.
   */
  digest(target?: string): Promise<string>;
  /** For each scope the engine declares: a case, or why it cannot be tried here. */
  scopes: Partial<Record<ScopeField, ScopedCase | string>>;
  /** `dump --path`, for engines whose snapshot holds several files. */
  dumpPath?: string;
  /** Throws unless the dumped file is the engine's artifact of the data. */
  checkDump?(file: string): Promise<void>;
  /** Where a drill restores, for engines that make no scratch target themselves; or why it cannot run. */
  drill?: { scratchUrl?: string } | string;
}

/**
 * Makes the live data. What it starts (folders, servers) it hands to `defer` as soon as it
 * exists, so a factory that fails halfway leaves nothing running; the suite runs them last
 * first, after its tests.
 */
export type SourceFactory = (defer: (cleanup: () => Promise<unknown>) => void) => Promise<SourceUnderTest>;

export interface SourceContractOptions {
  /** Skip the whole suite for this reason (printed), e.g. a server binary is missing. */
  skip?: string;
  /** Per-test timeout, for engines whose servers are slow to start. */
  timeout?: number;
}

const NAME = 'contract';

function skipped(title: string, reason: string): { skip: string } {
  console.log(`SKIPPED ${title}: ${reason}`);
  return { skip: reason };
}

export function runSourceContract(
  type: string,
  factory: SourceFactory,
  options: SourceContractOptions = {},
): void {
  const title = `source contract: ${type}`;
  if (options.skip) {
    describe(title, skipped(title, options.skip), () => {});
    return;
  }
  const declaration = engineDeclaration(type);
  const scopes = declaration?.restore.scopes ?? [];

  describe(title, { timeout: options.timeout ?? 300_000 }, () => {
    let s: SourceUnderTest;
    const cleanups: (() => Promise<unknown>)[] = [];
    let dir: string;
    let repo: Repository;
    let id: string | undefined;
    let snapshot: Snapshot | undefined;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'lifeboat-contract-'));
      repo = await Repository.init(createLocalBackend(join(dir, 'repo')), 'pw', {
        kdf: { N: 1024, r: 8, p: 1 },
      });
      s = await factory((c) => cleanups.push(c));
    });
    after(async () => {
      for (const c of cleanups.reverse()) await c().catch((err) => console.error(`cleanup failed: ${err}`));
      await rm(dir, { recursive: true, force: true });
    });

    const backedUp = (): { id: string; snapshot: Snapshot } => {
      assert.ok(id && snapshot, 'the backup test failed: nothing to restore');
      return { id, snapshot };
    };
    const restore = (to: string, more: Partial<RestoreOptions> = {}) =>
      runRestore(repo, {
        snapshot: backedUp().id,
        configured: { [NAME]: s.config },
        options: { to, overwrite: true, dryRun: false, ...more },
      });

    test('is in the registry, its scopes from the shared catalogue, one test case each', () => {
      assert.ok(declaration, `no engine "${type}" in sources/registry`);
      for (const scope of scopes) {
        assert.ok(ALL_SCOPES.includes(scope), `scope ${scope.field} is not one of sources/restore-scopes`);
        assert.ok(s.scopes[scope.field] !== undefined, `the test gives no case for scope ${scope.field}`);
      }
      const names = declaration.stats.map((d) => d.name);
      assert.equal(new Set(names).size, names.length, 'a statistic is declared twice');
    });

    test('backup records the statistics it declares', async () => {
      const source = await createSource(NAME, s.config);
      const out = await runBackup(repo, { source, sourceConfig: s.config });
      id = out.id;
      snapshot = out.snapshot;
      assert.equal(snapshot.engine, type);
      const declared = new Set(declaration?.stats.map((d) => d.name));
      for (const key of Object.keys(snapshot.stats)) {
        assert.ok(declared.has(key), `the snapshot records "${key}", which the engine does not declare`);
      }
      for (const key of countedStats(type)) {
        assert.ok(key in snapshot.stats, `the engine declares "${key}" for drills but did not record it`);
      }
    });

    test('restore elsewhere gives back the same data and the recorded counts', async () => {
      const to = await s.target();
      const result = await restore(to);
      assert.equal(await s.digest(to), await s.digest());
      const wrong = countChecks(backedUp().snapshot.stats, result.stats, countedStats(type)).filter(
        (c) => !c.ok,
      );
      assert.deepEqual(wrong, []);
    });

    test('a dry run writes nothing', async () => {
      const to = await s.target();
      const before = await s.digest(to);
      const result = await restore(to, { dryRun: true });
      assert.ok(result.items.length > 0, 'a dry run lists what it would restore');
      assert.equal(await s.digest(to), before);
    });

    for (const scope of scopes) {
      const name = `scoped restore: --${scope.flag} (${scope.field})`;
      test(name, async (t) => {
        const c = s.scopes[scope.field];
        if (c === undefined) assert.fail(`the test gives no case for scope ${scope.field}`);
        if (typeof c === 'string') {
          console.log(`SKIPPED ${title}: ${name}: ${c}`);
          t.skip(c);
          return;
        }
        assert.ok(c.options[scope.field] !== undefined, `the case for ${scope.field} does not set it`);
        const to = await s.target();
        await restore(to, c.options);
        await c.check(to);
      });
    }

    test('dump hands back the artifact, verified', async () => {
      const file = join(dir, 'dump.out');
      const output = createWriteStream(file);
      const r = await runDump(repo, { snapshot: backedUp().id, path: s.dumpPath, output });
      output.end();
      await finished(output);
      assert.equal((await stat(file)).size, r.bytes);
      assert.ok(r.bytes > 0);
      await s.checkDump?.(file);
    });

    test('a drill passes: counts, integrity check, scratch target removed', async (t) => {
      if (typeof s.drill === 'string') {
        console.log(`SKIPPED ${title}: drill: ${s.drill}`);
        t.skip(s.drill);
        return;
      }
      const scratchUrl = s.drill?.scratchUrl;
      const configured = { ...s.config, ...(scratchUrl ? { drill: { scratch_url: scratchUrl } } : {}) };
      const { report } = await runDrill(repo, {
        snapshot: backedUp().id,
        configured: { [NAME]: configured },
      });
      assert.equal(report.passed, true, drillFailure(report));
      const recorded = backedUp().snapshot.stats;
      for (const key of countedStats(type).filter((k) => k in recorded)) {
        assert.ok(
          report.checks.some((c) => c.name === `count ${key}`),
          `the drill did not compare "${key}"`,
        );
      }
    });
  });
}
