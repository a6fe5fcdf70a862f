import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isLifeboatError, type LifeboatError } from '../errors.js';
import { pruneGraceMs } from '../jobs/prune.js';
import { unsetChannel } from '../notify/channel-registry.js';
import { knownSourceTypes } from '../sources/registry.js';
import {
  configJsonSchema,
  parseConfig,
  parseDuration,
  requireEverySource,
  resolveRepository,
  unsetChannels,
} from './config.js';
import { loadConfig } from './config-load.js';

function fails(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isLifeboatError(err), `expected a LifeboatError, got ${err}`);
    assert.equal((err as LifeboatError).code, code, (err as Error).message);
    assert.match((err as Error).message, pattern);
    return true;
  };
}

function parse(text: string, env: NodeJS.ProcessEnv = {}) {
  return parseConfig(text, 'lifeboat.yaml', env);
}

const EXAMPLE = `
repository:
  url: file:///var/backups/lifeboat
  password: \${LIFEBOAT_PASSWORD}
sources:
  app-db:
    type: sqlite
    path: /srv/app/app.db
    schedule: "0 3 * * *"
    retention: { daily: 7, weekly: 4, monthly: 12, yearly: 5 }
    max_age: 26h
    protected: true
  uploads:
    type: files
    path: /srv/uploads
    exclude: ["*.tmp", ".cache/"]
    retention: { within: 30d }
    hooks: { before_backup: "touch /srv/maintenance", after_backup: "rm -f /srv/maintenance", timeout: 5m }
notifications:
  - type: slack
    webhook_url: \${SLACK_WEBHOOK_URL}
    on: [failure, rpo_breach]
`;

describe('config: parsing and validation', () => {
  it('accepts the documented example', () => {
    const config = parse(EXAMPLE, { LIFEBOAT_PASSWORD: 'pw', SLACK_WEBHOOK_URL: 'https://hooks.example/x' });
    assert.equal(config.repository?.password, 'pw');
    assert.deepEqual(Object.keys(config.sources), ['app-db', 'uploads']);
    assert.equal(config.sources['app-db'].type, 'sqlite');
    assert.deepEqual(config.sources['app-db'].retention, { daily: 7, weekly: 4, monthly: 12, yearly: 5 });
    assert.equal(config.sources.uploads.hooks?.timeout, '5m');
    // "Backups are retained for 30 days" is one line.
    assert.deepEqual(config.sources.uploads.retention, { within: '30d' });
    assert.deepEqual(config.notifications?.[0], {
      type: 'slack',
      webhook_url: 'https://hooks.example/x',
      on: ['failure', 'rpo_breach'],
    });
  });

  it('treats an empty file and an empty sources key as no sources', () => {
    for (const text of ['', 'sources:\n']) {
      const config = parse(text);
      assert.deepEqual(Object.keys(config), ['sources']);
      assert.deepEqual(Object.keys(config.sources), []);
      // Looked up by names from requests: prototype names are no sources.
      assert.equal(config.sources.constructor, undefined);
      assert.equal(config.sources.toString, undefined);
    }
  });

  it(`interpolates \${NAME} in every string value, and $\${ as a literal \${`, () => {
    const config = parse(
      `sources:
  a:
    type: sqlite
    path: \${DATA}/app.db
    tags: ["\${TAG}", "cost $\${HOME}", "$$5 plain"]`,
      { DATA: '/srv/data', TAG: 'nightly' },
    );
    assert.equal(config.sources.a.path, '/srv/data/app.db');
    assert.deepEqual(config.sources.a.tags, ['nightly', `cost \${HOME}`, '$$5 plain']);
  });

  it('names a missing variable and the field that uses it, when a command reads that field', () => {
    const config = parse(
      `sources:\n  app-db:\n    type: sqlite\n    path: \${DB_PATH}\n    retention: { last: 3 }\n`,
    );
    // The source is listed and its other settings read: forget needs no database path.
    assert.deepEqual(Object.keys(config.sources), ['app-db']);
    assert.deepEqual(config.sources['app-db'].retention, { last: 3 });
    assert.throws(
      () => config.sources['app-db'].path,
      fails(
        'config_invalid',
        /^\[config\] lifeboat\.yaml: sources\.app-db\.path uses \$\{DB_PATH\}, which is not set \(export it or edit the file\)$/,
      ),
    );
    assert.throws(
      () => parse(`repository:\n  password: "ab\${oops"\n`),
      fails('config_invalid', /repository\.password has a "\$\{" without a closing "\}"/),
    );
  });

  it('requireEverySource names each source, the unset variable and what to do', () => {
    const config = parse(
      [
        'sources:',
        '  app-db:',
        '    type: postgres',
        `    url: postgres://app:\${DB_PW}@db/app`,
        '  docs:',
        '    type: files',
        '    path: /srv/docs',
        '  cache:',
        '    type: redis',
        `    url: redis://\${CACHE_HOST}:\${CACHE_PORT}`,
        '',
      ].join('\n'),
      { CACHE_PORT: '6379' },
    );
    assert.throws(
      () => requireEverySource(config, 'serve'),
      (err: unknown) => {
        assert.ok(isLifeboatError(err));
        assert.equal(err.code, 'config_invalid');
        assert.deepEqual(err.message.split('\n'), [
          `[config] lifeboat.yaml: source "app-db" uses \${DB_PW} (in sources.app-db.url), which is not set; serve uses every source: set DB_PW in its environment or remove the source from the file`,
          `[config] lifeboat.yaml: source "cache" uses \${CACHE_HOST} (in sources.cache.url), which is not set; serve uses every source: set CACHE_HOST in its environment or remove the source from the file`,
        ]);
        return true;
      },
    );
    // With every variable set there is nothing to report.
    requireEverySource(parse('sources:\n  docs:\n    type: files\n    path: /srv/docs\n'), 'serve');
    const set = parse(`sources:\n  db:\n    type: sqlite\n    path: \${P}\n`, { P: '/srv/app.db' });
    requireEverySource(set, 'serve');
  });

  it('fails at once on an unset variable outside the sources, and on a broken one anywhere', () => {
    assert.throws(
      () => parse(`repository:\n  password: \${REPO_PW}\n`),
      fails('config_invalid', /repository\.password uses \$\{REPO_PW\}, which is not set/),
    );
    assert.throws(
      () => parse(`sources:\n  db:\n    type: sqlite\n    path: "/x/\${oops"\n`),
      fails('config_invalid', /sources\.db\.path has a "\$\{" without a closing "\}"/),
    );
  });

  it('sets aside a notification channel that uses an unset variable; its other settings are still checked', async () => {
    const text = (extra = '') =>
      [
        'notifications:',
        '  - type: slack',
        '    webhook_url: https://hooks.example/ok',
        '  - type: webhook',
        `    url: \${HOOK_URL}`,
        `    secret: \${HOOK_SECRET}`,
        '    on: [failure]',
        extra,
      ].join('\n');
    const config = parse(text());
    assert.deepEqual(
      config.notifications?.map((n) => n.type),
      ['slack'],
    );
    const [unset] = unsetChannels(config);
    assert.equal(unset.position, 1);
    assert.equal(unset.config.type, 'webhook');
    assert.match(unset.error.message, /notifications\.1\.url uses \$\{HOOK_URL\}, which is not set/);
    // Built as a channel, it takes what its `on:` asks for and fails each send with that error.
    const channel = unsetChannel(unset.config, unset.position, unset.error);
    assert.equal(channel.label, 'webhook (notifications.1)');
    assert.equal(channel.accepts('failure'), true);
    assert.equal(channel.accepts('rpo_breach'), false);
    await assert.rejects(channel.send({} as never), /uses \$\{HOOK_URL\}, which is not set/);
    // Set, it is an ordinary channel.
    const set = parse(text(), { HOOK_URL: 'https://hooks.example/x', HOOK_SECRET: 's' });
    assert.deepEqual(
      set.notifications?.map((n) => n.type),
      ['slack', 'webhook'],
    );
    assert.equal(unsetChannels(set).length, 0);
    // A mistake in its other settings is no less an error.
    assert.throws(
      () => parse(text('    colour: red')),
      fails('config_invalid', /notifications\[1\]: unknown key "colour"/),
    );
  });

  it("resolves relative paths against the config file's folder, the repository too", () => {
    const config = parseConfig(
      [
        'repository:',
        '  url: ./repo',
        '  password_file: secrets/pw',
        'sources:',
        '  up:',
        '    type: files',
        '    path: data/uploads',
        '  db:',
        '    type: sqlite',
        '    path: /abs/app.db',
        '  remote:',
        '    type: redis',
        '    url: redis://localhost:6379',
        '    tls: { ca: certs/ca.pem, cert: "-----BEGIN CERTIFICATE-----\\nAAA\\n" }',
      ].join('\n'),
      '/etc/lifeboat/lifeboat.yaml',
      {},
    );
    assert.equal(config.repository?.url, '/etc/lifeboat/repo');
    assert.equal(config.repository?.password_file, '/etc/lifeboat/secrets/pw');
    assert.equal(config.sources.up.path, '/etc/lifeboat/data/uploads');
    assert.equal(config.sources.db.path, '/abs/app.db');
    const tls = (config.sources.remote as { tls?: { ca?: string; cert?: string } }).tls;
    assert.equal(tls?.ca, '/etc/lifeboat/certs/ca.pem');
    assert.match(tls?.cert ?? '', /^-----BEGIN/);
    const s3 = parseConfig('repository:\n  url: s3://bucket/prefix\n', '/etc/lifeboat/lifeboat.yaml', {});
    assert.equal(s3.repository?.url, 's3://bucket/prefix');
  });

  it('names each bad field by its path and says what is expected', () => {
    const cases: [string, RegExp][] = [
      [
        'sources:\n  uploads:\n    type: files\n',
        /^\[config\] lifeboat\.yaml: sources\.uploads\.path: expected a string \(required\)$/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: 5\n',
        /sources\.db\.path: expected a string, got a number/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: /a\n    retention: { daily: -1 }\n',
        /sources\.db\.retention\.daily: expected a number >= 0/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: /a\n    retention: { daily: 1.5 }\n',
        /sources\.db\.retention\.daily: expected a whole number/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: /a\n    retention: { within: 30 }\n',
        /sources\.db\.retention\.within: expected a string, got a number/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: /a\n    max_age: soon\n',
        /sources\.db\.max_age: expected a duration such as 30m/,
      ],
      [
        'repository:\n  prune_grace: soon\n',
        /repository\.prune_grace: expected a duration such as 24h or 7d, or 0/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: /a\n    protected: maybe\n',
        /sources\.db\.protected: expected true or false, got a string/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: /a\n    hooks: { before: x }\n',
        /sources\.db\.hooks: unknown key "before" \(known: before_backup, after_backup/,
      ],
      [
        'sources:\n  db:\n    type: sqlite\n    path: /a\n    exclude: [x]\n',
        /sources\.db: unknown key "exclude" \(known: type, path, schedule/,
      ],
      [
        'sources:\n  db:\n    type: postgress\n',
        /sources\.db\.type: unknown source type "postgress" \(known: command, files, [a-z, ]*sqlite\)/,
      ],
      [
        'sources:\n  db:\n    path: /a\n',
        /sources\.db\.type: expected a source type \(required; known: command, files, [a-z, ]*sqlite\)/,
      ],
      ['sources:\n  "-db":\n    type: sqlite\n    path: /a\n', /sources: "-db" is not a valid source name/],
      ['sources: [a, b]\n', /sources: expected a mapping, got a list/],
      [
        'repository:\n  url: x\n  pasword: y\n',
        /repository: unknown key "pasword" \(known: url, password, password_file, password_command, prune_grace, retries, timeout, connect_timeout, idle_timeout, retry_budget, circuit_breaker_after, upload_concurrency, limit_upload, limit_download, s3, azure, sftp\)/,
      ],
      [
        'repository: {}\nsource: {}\n',
        /unknown top-level key "source" \(known: repository, sources, notifications, server, apps\)/,
      ],
      ['notifications:\n  - webhook_url: x\n', /notifications\[0\]\.type: expected a string \(required\)/],
      ['apps:\n  shop:\n    sources: []\n', /apps\.shop\.sources/],
      [
        'apps:\n  shop:\n    sources: [db]\n    environments:\n      staging:\n        target: {}\n',
        /apps\.shop\.environments\.staging: unknown key "target"/,
      ],
    ];
    for (const [text, pattern] of cases)
      assert.throws(() => parse(text), fails('config_invalid', pattern), text);
  });

  it('reports every problem, one line each', () => {
    assert.throws(
      () => parse('sources:\n  a:\n    type: files\n  b:\n    type: sqlite\n'),
      (err: Error) => err.message.split('\n').length === 2,
    );
  });

  it('gives the line and column of a YAML syntax error, without quoting the file', () => {
    assert.throws(
      () => parse('repository:\n  password: hunter2\n  url: [a, b\nsources: {}\n'),
      (err: unknown) => {
        fails(
          'config_invalid',
          /^\[config\] lifeboat\.yaml: YAML syntax error at line \d+, column \d+: /,
        )(err);
        assert.doesNotMatch((err as Error).message, /hunter2/);
        return true;
      },
    );
    assert.throws(
      () => parse('a: 1\na: 2\n'),
      fails('config_invalid', /at line 2, column 1: Map keys must be unique/),
    );
  });

  it('never puts values in validation messages', () => {
    assert.throws(
      () => parse('repository:\n  password: 123456\n'),
      (err: Error) =>
        !err.message.includes('123456') && /repository\.password: expected a string/.test(err.message),
    );
  });

  it('publishes a JSON Schema', () => {
    const schema = configJsonSchema() as {
      type: string;
      properties: Record<string, { additionalProperties?: { oneOf?: unknown[] } }>;
    };
    assert.equal(schema.type, 'object');
    assert.deepEqual(Object.keys(schema.properties), [
      'repository',
      'sources',
      'notifications',
      'server',
      'apps',
    ]);
    assert.equal(schema.properties.sources.additionalProperties?.oneOf?.length, knownSourceTypes().length);
    assert.doesNotThrow(() => JSON.stringify(schema));
  });

  it('docs/lifeboat.schema.json is the schema of this config (else: node scripts/write-config-schema.js)', async () => {
    // dist/src/config/ -> the checkout's root
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    const published = JSON.parse(await readFile(join(root, 'docs', 'lifeboat.schema.json'), 'utf8'));
    assert.deepEqual(published, JSON.parse(JSON.stringify(configJsonSchema())));
  });
});

describe('config: loading', () => {
  let dir: string;
  const cwd = process.cwd();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-config-'));
  });
  after(async () => {
    process.chdir(cwd);
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the file given, else LIFEBOAT_CONFIG, else ./lifeboat.yaml, else nothing', async () => {
    const given = join(dir, 'given.yaml');
    const fromEnv = join(dir, 'env.yaml');
    await writeFile(given, 'sources: { a: { type: sqlite, path: /given } }\n');
    await writeFile(fromEnv, 'sources: { a: { type: sqlite, path: /env } }\n');
    assert.equal((await loadConfig(given, { LIFEBOAT_CONFIG: fromEnv })).sources.a.path, '/given');
    assert.equal((await loadConfig(undefined, { LIFEBOAT_CONFIG: fromEnv })).sources.a.path, '/env');

    const work = join(dir, 'work');
    await mkdir(work);
    process.chdir(work);
    try {
      assert.deepEqual(await loadConfig(undefined, {}), { sources: {} });
      await writeFile(join(work, 'lifeboat.yaml'), 'sources: { a: { type: sqlite, path: /default } }\n');
      assert.equal((await loadConfig(undefined, {})).sources.a.path, '/default');
    } finally {
      process.chdir(cwd);
    }
  });

  it('fails when a named file is missing', async () => {
    await assert.rejects(
      loadConfig(join(dir, 'nope.yaml'), {}),
      fails('config_invalid', /cannot read .*nope\.yaml: file not found \(check --config\)/),
    );
    await assert.rejects(
      loadConfig(undefined, { LIFEBOAT_CONFIG: join(dir, 'nope.yaml') }),
      fails('config_invalid', /file not found \(check LIFEBOAT_CONFIG\)/),
    );
  });

  it('names the file in messages', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'sources:\n  up:\n    type: files\n');
    await assert.rejects(
      loadConfig(file, {}),
      fails('config_invalid', /bad\.yaml: sources\.up\.path: expected a string/),
    );
  });

  it('reads a relative password_file from beside the config file', async () => {
    const sub = join(dir, 'etc');
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, 'pw'), 'from-file\n');
    await writeFile(join(sub, 'lifeboat.yaml'), 'repository:\n  url: /r\n  password_file: pw\n');
    const config = await loadConfig(join(sub, 'lifeboat.yaml'), {});
    assert.equal(config.repository?.password_file, join(sub, 'pw'));
    assert.deepEqual(await resolveRepository(config, {}), { url: '/r', password: 'from-file' });
  });
});

describe('config: repository settings', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-repo-settings-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the environment over the file', async () => {
    const envFile = join(dir, 'env-pw');
    const cfgFile = join(dir, 'cfg-pw');
    await writeFile(envFile, 'env-file-secret\r\n');
    await writeFile(cfgFile, 'cfg-file-secret\n');
    const full = { repository: { url: '/from/config', password: 'cfg-secret', password_file: cfgFile } };

    assert.deepEqual(
      await resolveRepository(full, { LIFEBOAT_REPO: '/from/env', LIFEBOAT_PASSWORD: 'env-secret' }),
      {
        url: '/from/env',
        password: 'env-secret',
      },
    );
    assert.equal(
      (await resolveRepository(full, { LIFEBOAT_PASSWORD_FILE: envFile })).password,
      'env-file-secret',
    );
    assert.equal((await resolveRepository(full, {})).password, 'cfg-secret');
    assert.equal((await resolveRepository(full, {})).url, '/from/config');
    const fileOnly = { repository: { url: '/r', password_file: cfgFile } };
    assert.equal((await resolveRepository(fileOnly, {})).password, 'cfg-file-secret');
    assert.equal((await resolveRepository(fileOnly, { LIFEBOAT_PASSWORD: '' })).password, 'cfg-file-secret');
  });

  it('says what to set when the url or password is missing', async () => {
    await assert.rejects(
      resolveRepository({}, { LIFEBOAT_PASSWORD: 'x' }),
      fails(
        'usage',
        /^\[config\] no repository given: set repository\.url in lifeboat\.yaml or LIFEBOAT_REPO$/,
      ),
    );
    await assert.rejects(
      resolveRepository({ repository: { url: '/r' } }, {}),
      fails(
        'usage',
        /no repository password given: set LIFEBOAT_PASSWORD, LIFEBOAT_PASSWORD_FILE or LIFEBOAT_PASSWORD_COMMAND/,
      ),
    );
  });

  it('names a missing or empty password file, never a password', async () => {
    await assert.rejects(
      resolveRepository({ repository: { url: '/r' } }, { LIFEBOAT_PASSWORD_FILE: join(dir, 'none') }),
      fails('usage', /cannot read the password file .*none \(from LIFEBOAT_PASSWORD_FILE\): file not found/),
    );
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    await assert.rejects(
      resolveRepository(
        { repository: { url: '/r', password: 'sekrit', password_file: empty } },
        {
          LIFEBOAT_PASSWORD_FILE: empty,
        },
      ),
      (err: Error) => /password file .*empty.* is empty/.test(err.message) && !err.message.includes('sekrit'),
    );
  });
});

describe('config: durations', () => {
  it('parses the units people write', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('26h'), 26 * 3_600_000);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('2w'), 14 * 86_400_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1y2d'), 367 * 86_400_000);
  });

  it("reads prune's grace from the flag or job first, then repository.prune_grace, else 0", () => {
    const config = (grace: string) => parseConfig(`repository:\n  prune_grace: ${grace}\n`, '/x.yaml', {});
    assert.equal(pruneGraceMs(undefined, config('24h')), 86_400_000);
    assert.equal(pruneGraceMs(undefined, config('0')), 0);
    assert.equal(pruneGraceMs(undefined, parseConfig('', '/x.yaml', {})), 0);
    assert.equal(pruneGraceMs('0', config('24h')), 0);
    assert.equal(pruneGraceMs('1h30m', config('24h')), 5_400_000);
    assert.equal(pruneGraceMs(undefined), 0);
  });

  it('names a bad value', () => {
    for (const bad of ['', '26', 'h', '1.5h', '7 days', '-1d', '3mo']) {
      assert.throws(() => parseDuration(bad), fails('usage', new RegExp(`invalid duration "${bad}"`)), bad);
    }
  });
});
