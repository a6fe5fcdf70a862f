/**
 * Unit tests of the shared runner for engine tools, with /bin/sh standing in for pg_dump and
 * pg_restore: streaming, secrets in the environment only and blanked from messages, the
 * "not found" hint, a tool that stops reading early, whose error wins, and aborting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { redact, runDumpTool, runRestoreTool, runTool, type ToolCommand } from './dump-runner.js';

const sh = (script: string, extra: Partial<ToolCommand> = {}): ToolCommand => ({
  engine: 'test',
  command: '/bin/sh',
  args: ['-c', script],
  packageHint: 'test-tools',
  ...extra,
});

async function drain(stream: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

async function* bytes(total: number, chunk = 64 * 1024): AsyncIterable<Uint8Array> {
  for (let sent = 0; sent < total; sent += chunk) yield Buffer.alloc(Math.min(chunk, total - sent), 120);
}

test('streams stdout; the secret reaches the tool through its environment only', async () => {
  const cmd = sh('printf "%s|%s" "$TEST_SECRET" "$*"', {
    env: { TEST_SECRET: 'hunter2' },
    secrets: ['hunter2'],
  });
  assert.equal(await runDumpTool(cmd, drain), 'hunter2|');
  assert.ok(!cmd.args.join(' ').includes('hunter2'));
});

test('a failing tool: exit status and stderr tail, secrets and URL passwords blanked', async () => {
  const cmd = sh('echo "auth failed for hunter2 at postgres://u:pw9@h/db" >&2; exit 3', {
    secrets: ['hunter2'],
  });
  await assert.rejects(runDumpTool(cmd, drain), (err: unknown) => {
    assert.ok(isLifeboatError(err));
    assert.equal(err.code, 'source_failed');
    assert.match(
      err.message,
      /^\[source:test\] \/bin\/sh exited with code 3: auth failed for \*\*\* at postgres:\/\/u:\*\*\*@h\/db$/,
    );
    return true;
  });
  assert.equal(redact('x postgres://a:b@c/d', []), 'x postgres://a:***@c/d');
});

test('a missing program names the package to install', async () => {
  await assert.rejects(
    runTool({
      engine: 'postgres',
      command: '/nonexistent/pg_dump',
      args: [],
      packageHint: 'postgresql-client-15',
    }),
    /\[source:postgres\] \/nonexistent\/pg_dump not found: install the postgresql-client-15 package/,
  );
});

test('a tool that needs only the start of its input (pg_restore -l) succeeds', async () => {
  const out = await runRestoreTool(sh('head -c 100 >/dev/null; echo listed'), bytes(20 * 1024 * 1024));
  assert.equal(out, 'listed\n');
});

test('a tool that dies while fed: its own error is reported', async () => {
  await assert.rejects(
    runRestoreTool(sh('head -c 1000 >/dev/null; echo "broken archive" >&2; exit 1'), bytes(20 * 1024 * 1024)),
    /exited with code 1: broken archive/,
  );
});

test("the reader's failure wins over the tool it had to kill", async () => {
  const cmd = sh('yes lifeboat');
  await assert.rejects(
    runDumpTool(cmd, async (stdout) => {
      for await (const _ of stdout) throw new Error('repository full');
    }),
    /repository full/,
  );
});

test('a failing input stream stops the restore tool with the input error', async () => {
  async function* failing(): AsyncIterable<Uint8Array> {
    yield Buffer.from('start');
    throw new Error('chunk 3 does not match its hash');
  }
  await assert.rejects(runRestoreTool(sh('cat >/dev/null'), failing()), /chunk 3 does not match/);
});

test('aborting kills the tool', async () => {
  const abort = new AbortController();
  const started = Date.now();
  setTimeout(() => abort.abort(new Error('job cancelled')), 100);
  await assert.rejects(runTool(sh('exec sleep 30', { signal: abort.signal })), /job cancelled/);
  assert.ok(Date.now() - started < 5000);
});
