/**
 * @module test/server/harness
 * An in-process `lifeboat serve` for tests: a fresh repository and catalog in a temporary
 * folder, a TestClock that the scheduler reads (tests call `server.tick()`), the HTTP API on
 * a free port, tokens for each role, and helpers for real HTTP calls.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { openCatalog } from '../../src/catalog/open-catalog.js';
import { TestClock } from '../../src/clock.js';
import { parseConfig } from '../../src/config/config.js';
import { Repository } from '../../src/repo/repository.js';
import { LifeboatServer } from '../../src/server/server.js';
import { openBackend } from '../../src/storage/registry.js';
import { BIN } from '../helpers/cli.js';

export const PASSWORD = 'pw-server-Tq8!harbor';
export const KDF = { N: 1024, r: 8, p: 1 };

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field in tests
  body: any;
}

export interface Harness {
  dir: string;
  repo: string;
  catalogFile: string;
  clock: TestClock;
  server: LifeboatServer;
  base: string;
  tokens: Record<'viewer' | 'operator' | 'admin' | 'admin2', string>;
  /** Everything the server logged, as text. */
  logs: () => string;
  call(method: string, path: string, options?: { token?: string | null; body?: unknown }): Promise<Reply>;
  /** Polls a job through the API until it reaches a final status (30 s unless told). */
  waitJob(id: string, timeoutMs?: number): Promise<Reply['body']>;
  /** Stops the server (grace 5 s) and removes the folder unless `keep`. */
  close(options?: { keep?: boolean }): Promise<void>;
  /** Stops the server but keeps the folder, catalog and repository. */
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** lifeboat.yaml text; `$DIR` is replaced by the temporary folder. */
  config: string;
  clock?: TestClock;
  /** Reuse a folder (repository and catalog) from an earlier harness. */
  dir?: string;
  /** Files to create first, relative to the folder. */
  files?: Record<string, string>;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'lifeboat-server-')));
  const repo = join(dir, 'repo');
  const catalogFile = join(dir, 'lifeboat.catalog.sqlite');
  for (const [name, content] of Object.entries(options.files ?? {})) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  if (!options.dir) await Repository.init(await openBackend(repo), PASSWORD, { kdf: KDF });
  const clock = options.clock ?? new TestClock('2026-01-01T00:00:00Z');
  // Written out for the Lifeboat processes its jobs start (lifeboatArgv below).
  const configFile = join(dir, 'lifeboat.harness.yaml');
  const configText = options.config.replaceAll('$DIR', dir);
  await writeFile(configFile, configText);
  const config = parseConfig(configText, configFile, {});
  const catalog = await openCatalog(catalogFile, clock);
  let logText = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  const server = await LifeboatServer.create({
    config,
    catalog,
    repository: { url: repo, password: PASSWORD, options: { kdf: KDF } },
    clock,
    autoSchedule: false,
    log: pino({ level: 'info' }, sink),
    // As `lifeboat serve` has: how its jobs run Lifeboat again (scratch clusters' WAL fetches).
    lifeboatArgv: [process.execPath, BIN, '--config', configFile],
  });
  const base = await server.start('127.0.0.1:0');
  const existing = new Set((await catalog.tokens.list()).map((t) => t.name));
  const tokens = {} as Harness['tokens'];
  for (const [name, role] of [
    ['viewer', 'viewer'],
    ['operator', 'operator'],
    ['admin', 'admin'],
    ['admin2', 'admin'],
  ] as const) {
    const tokenName = existing.has(name) ? `${name}-${(await catalog.tokens.list()).length}` : name;
    tokens[name] = (await catalog.tokens.create(tokenName, role, 'test')).token;
  }
  let stopped = false;
  const h: Harness = {
    dir,
    repo,
    catalogFile,
    clock,
    server,
    base,
    tokens,
    logs: () => logText,
    async call(method, path, opts = {}) {
      const token = opts.token === undefined ? tokens.admin : opts.token;
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(base + path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, headers: res.headers, text, body };
    },
    async waitJob(id, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await h.call('GET', `/api/jobs/${id}`, { token: tokens.viewer });
        assert.equal(r.status, 200, r.text);
        if (['succeeded', 'failed', 'skipped', 'interrupted', 'rejected'].includes(r.body.job.status))
          return r.body.job;
        if (Date.now() > deadline)
          throw new Error(`job ${id} still ${r.body.job.status} after ${timeoutMs / 1000}s`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop(5_000);
      await catalog.close();
    },
    async close(opts = {}) {
      await h.stop();
      if (!opts.keep) await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Polls `fn` until it returns a truthy value (real time; for deliveries to receivers). */
export async function eventually<T>(
  fn: () => T | false | undefined | null | Promise<T | false | undefined | null>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
