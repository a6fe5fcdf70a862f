/**
 * @module test/cli/cli-everyday
 * Everyday use through the real CLI: progress (a bar on a terminal with files, bytes,
 * percentage and ETA; JSON lines under --json), "processed" for unchanged data, errors as
 * JSON objects with their code, config paths relative to the config file, a source's unset
 * ${VAR} needed only by commands that use that source (serve uses them all), and the rate
 * limits listed once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoEnv, startCli, tempDir } from '../helpers/cli.js';
import { bareEnv, CliSession } from '../helpers/cli-session.js';
import { runOnTerminal, terminalUnavailable } from '../helpers/terminal.js';

const PASSWORD = 'pw-everyday-Lk3#marmot';
const session = new CliSession({ password: PASSWORD });
const { ok, fails } = session;
const noTerminal = terminalUnavailable();
if (noTerminal) console.log(`# skipped (terminal tests): ${noTerminal}`);

interface ProgressLine {
  type: string;
  phase: string;
  done: boolean;
  files_done: number;
  files_total: number | null;
  bytes_done: number;
  bytes_processed_unchanged: number;
  bytes_total: number | null;
  percent: number | null;
}

async function until(ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ProgressLine & { code?: string; exit?: number; message?: string });

describe('lifeboat: progress, JSON output and configuration in everyday use', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  const files = 40;
  const size = 50_000;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-everyday-'));
    session.workDir = dir;
    env = repoEnv(join(dir, 'repo'), { LIFEBOAT_PASSWORD: PASSWORD });
    await mkdir(join(dir, 'site', 'data', 'deep'), { recursive: true });
    for (let i = 0; i < files; i++) {
      await writeFile(join(dir, 'site', 'data', i % 2 ? 'deep' : '', `f${i}`), Buffer.alloc(size, i));
    }
    await writeFile(join(dir, 'site', 'data', 'skip.tmp'), Buffer.alloc(size * 10, 1));
    // The config names everything relative to its own folder, and a database password that
    // only a backup of that database needs.
    await writeFile(join(dir, 'site', 'pw'), `${PASSWORD}\n`);
    await writeFile(
      join(dir, 'site', 'lifeboat.yaml'),
      [
        'repository:',
        '  url: ../repo',
        '  password_file: pw',
        'sources:',
        '  docs:',
        '    type: files',
        '    path: data',
        '    exclude: ["*.tmp"]',
        '  db:',
        '    type: postgres',
        `    url: postgres://app:\${DB_PASSWORD}@localhost/app`,
        '',
      ].join('\n'),
    );
    await ok(['init', '--json'], env);
  });
  after(() => cleanup());

  const configEnv = () => bareEnv({ LIFEBOAT_CONFIG: join(dir, 'site', 'lifeboat.yaml') });

  it(`config paths resolve against its folder; an unset \${VAR} of an unused source is no error`, async () => {
    // Run from elsewhere: the repository, the password file and the source path are found.
    const r = await ok(['backup', 'docs', '--json'], configEnv(), '/');
    const [report] = JSON.parse(r.stdout);
    assert.equal(report.status, 'ok');
    assert.equal(report.saved[0].stats.files, files);
    await ok(['snapshots'], configEnv(), '/');
    await ok(['forget', '--keep-last', '5', '--dry-run'], configEnv(), '/');
    // The source that uses it still needs it, and says so.
    await fails(
      ['backup', 'db'],
      configEnv(),
      2,
      /sources\.db\.url uses \$\{DB_PASSWORD\}, which is not set/,
      '/',
    );
  });

  it(`serve refuses to start while a source's \${VAR} is unset; other commands keep working`, async () => {
    const r = await fails(
      ['serve', '--listen', '127.0.0.1:0', '--json'],
      configEnv(),
      2,
      /"code":"config_invalid"/,
      '/',
    );
    const e = JSON.parse(r.stderr.trim());
    assert.equal(e.exit, 2);
    assert.match(
      e.message,
      /source "db" uses \$\{DB_PASSWORD\} \(in sources\.db\.url\), which is not set; serve uses every source: set DB_PASSWORD in its environment/,
    );
    assert.equal(r.stdout, '');
    // Nothing was started: the same config still serves the other commands.
    await ok(['snapshots', '--json'], configEnv(), '/');
    await ok(['jobs'], configEnv(), '/');
  });

  it('--json: progress lines on stderr (files and bytes of the total), the result on stdout', async () => {
    const r = await ok(
      [
        'backup',
        '--json',
        '--type',
        'files',
        '--name',
        'lines',
        '--path',
        join(dir, 'site', 'data'),
        '--exclude',
        '*.tmp',
      ],
      env,
    );
    JSON.parse(r.stdout);
    const lines = jsonLines(r.stderr).filter((l) => l.type === 'progress');
    assert.ok(lines.length >= 2, r.stderr);
    assert.equal(lines[0].phase, 'backup lines');
    assert.equal(lines[0].done, false);
    const last = lines[lines.length - 1];
    assert.equal(last.done, true);
    assert.equal(last.files_done, files);
    assert.equal(last.files_total, files);
    assert.equal(last.bytes_done, files * size);
    assert.equal(last.bytes_total, files * size);
    assert.equal(last.percent, 100);
    assert.equal(last.bytes_processed_unchanged, 0);
  });

  it('unchanged data is "processed", not read, in the summary and in progress', async () => {
    const args = [
      'backup',
      '--type',
      'files',
      '--name',
      'lines',
      '--path',
      join(dir, 'site', 'data'),
      '--exclude',
      '*.tmp',
    ];
    const r = await ok(args, env);
    assert.match(r.stdout, /saved: lines \(files\), 1\.91 MiB processed \(0 B read, 1\.91 MiB unchanged\)/);
    const j = await ok([...args, '--json'], env);
    const last = jsonLines(j.stderr)
      .filter((l) => l.type === 'progress')
      .pop();
    assert.equal(last?.bytes_processed_unchanged, files * size);
    const q = await ok([...args, '--json', '--quiet'], env);
    assert.equal(q.stderr, '');
  });

  it('--json: an error is one JSON object with its stable code and exit code', async () => {
    const wrong = await fails(
      ['snapshots', '--json'],
      { ...env, LIFEBOAT_PASSWORD: 'nope' },
      1,
      /wrong_password/,
    );
    assert.deepEqual(Object.keys(JSON.parse(wrong.stderr.trim())), [
      'type',
      'code',
      'exit',
      'message',
      'retryable',
    ]);
    const e = JSON.parse(wrong.stderr.trim());
    assert.equal(e.type, 'error');
    assert.equal(e.code, 'wrong_password');
    assert.equal(e.exit, 1);
    assert.match(e.message, /^\[repo\] wrong password/);
    const usage = await fails(['snapshots', '--frob', '--json'], env, 2, /"code":"usage"/);
    assert.equal(JSON.parse(usage.stderr.trim()).message, "unknown option '--frob'");
    const missing = await fails(
      ['restore', 'deadbeef', '--json', '--source', 'x'],
      env,
      1,
      /"code":"not_found"/,
    );
    assert.equal(missing.stdout, '');
  });

  it('the rate limits are listed in the program help only, and taken by every command', async () => {
    const top = await ok(['--help'], bareEnv());
    assert.match(top.stdout, /--limit-upload <kib>/);
    const sub = await ok(['backup', '--help'], bareEnv());
    assert.ok(!sub.stdout.includes('--limit-'), sub.stdout);
    await ok(['snapshots', '--limit-download', '500'], env);
  });

  it('on a terminal, backup draws a bar with files, bytes, percentage and ETA', {
    skip: noTerminal,
  }, async () => {
    await writeFile(join(dir, 'site', 'data', 'f0'), Buffer.alloc(size, 200));
    const r = await runOnTerminal(
      [
        'backup',
        '--type',
        'files',
        '--name',
        'lines',
        '--path',
        join(dir, 'site', 'data'),
        '--exclude',
        '*.tmp',
      ],
      env,
    );
    assert.equal(r.code, 0, r.screen);
    // cli-progress redraws the line in place: take the last frame before the summary.
    const frames = r.screen
      .split('\u001b[1G')
      .map((f) => f.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[78]/g, ''));
    const bar = frames.filter((f) => f.startsWith('backup lines')).pop() ?? '';
    assert.match(
      bar,
      /^backup lines \[#+-*\]\s+\d+% {2}\d+ \/ 40 files {2}[\d.]+ [KM]iB \/ 1\.91 MiB {2}\(1\.86 MiB unchanged, processed without reading\) {2}.+\/s {2}ETA \d+s$/,
      bar,
    );
    assert.match(
      r.screen,
      /saved: lines \(files\), 1\.91 MiB processed \(48\.8 KiB read, 1\.86 MiB unchanged\)/,
    );
  });

  it('an interrupted restore says what it wrote and what it left', async () => {
    const big = join(dir, 'big');
    await mkdir(big);
    for (let i = 0; i < 40; i++) await writeFile(join(big, `b${i}`), randomBytes(100_000));
    await ok(['backup', '--type', 'files', '--name', 'big', '--path', big, '--json', '-q'], env);
    const to = join(dir, 'big-restore');
    // Slowed to 400 KiB/s, the restore is stopped once it has written a file.
    const child = startCli(
      ['restore', 'latest', '--source', 'big', '--to', to, '--limit-download', '400'],
      env,
      dir,
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    await until(async () => (await readdir(to).catch(() => [])).some((n) => n.startsWith('b')), 60_000);
    child.kill('SIGTERM');
    assert.equal(await exited, 143, stderr);
    const written = (await readdir(to)).filter((n) => n.startsWith('b'));
    assert.ok(written.length > 0 && written.length < 40, stderr);
    assert.match(
      stderr,
      new RegExp(
        `^lifeboat: interrupted by SIGTERM; the restore of snapshot [0-9a-f]{8} \\(big\\) to ${to} stopped after writing [\\d.]+ [KM]iB of 3\\.81 MiB: the files it wrote are complete and stay, the rest are missing.*Restore again with --overwrite to complete ${to}$`,
        'm',
      ),
    );
    // No half-written file is left, and each file there is whole.
    assert.deepEqual(
      (await readdir(to)).filter((n) => n.startsWith('.lifeboat-restore-')),
      [],
    );
    for (const n of written) {
      assert.deepEqual(await readFile(join(to, n)), await readFile(join(big, n)), n);
    }
    const again = await ok(['restore', 'latest', '--source', 'big', '--to', to, '--overwrite'], env);
    assert.match(again.stdout, /restored snapshot .* 40 files/);
  });

  it('shows no password and no stack trace in any output', () => session.assertNoLeaks(8));
});
