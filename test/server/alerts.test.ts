/**
 * @module test/server/alerts
 * Alerts delivered to local receivers: an HTTP server standing in for a webhook, Slack and
 * PagerDuty, and an SMTP server (smtp-server) for email. A failure fires once on every
 * channel that takes it, repeats after the interval while it holds, and resolves when a
 * backup succeeds; an RPO breach comes from the clock moving on; a failed check, and low free
 * space, alert too. Webhook bodies are checked against their HMAC signature.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SMTPServer } from 'smtp-server';
import { eventually, type Harness, startHarness } from './harness.js';

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: payloads are checked field by field
  body: any;
}

const SECRET = 'whsec-test-4f9a';

describe('server alerts', () => {
  let h: Harness;
  let http: Server;
  let smtp: SMTPServer;
  const received: Received[] = [];
  const mails: string[] = [];
  const at = (path: string) => received.filter((r) => r.path === path);
  const webhook = (kind: string) => at('/webhook').filter((r) => r.body.alert.kind === kind);

  before(async () => {
    http = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (d) => {
        raw += d;
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw) });
        res.writeHead(req.url === '/pd' ? 202 : 200, { 'content-type': 'application/json' });
        res.end(req.url === '/pd' ? '{"status":"success"}' : 'ok');
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, _session, callback) {
        let raw = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => {
          raw += d;
        });
        stream.on('end', () => {
          mails.push(raw);
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as AddressInfo).port;
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    h = await startHarness({
      config: `
sources:
  app:
    type: sqlite
    path: $DIR/app.db
    max_age: 2h
notifications:
  - type: webhook
    url: http://127.0.0.1:${port}/webhook
    secret: ${SECRET}
  - type: slack
    webhook_url: http://127.0.0.1:${port}/slack
    on: [failure]
  - type: pagerduty
    routing_key: rk-test-123
    events_url: http://127.0.0.1:${port}/pd
    on: [failure, rpo_breach]
  - type: email
    smtp_url: smtp://127.0.0.1:${smtpPort}
    from: lifeboat@example.com
    to: [ops@example.com]
    on: [failure]
server:
  check_schedule: "0 5 * * *"
  check_subset: 100
  alerts: { repeat: 1h, min_free_space: 1000TiB }
`,
    });
  });
  after(async () => {
    await h?.close();
    http?.close();
    await new Promise<void>((resolve) => (smtp ? smtp.close(resolve) : resolve()));
  });

  async function backup(): Promise<{ status: string; error: string | null }> {
    const r = await h.call('POST', '/api/sources/app/backups', { token: h.tokens.operator });
    assert.equal(r.status, 202, r.text);
    const job = await h.waitJob(r.body.job.id);
    await h.server.evaluateAlerts(); // the dispatcher runs one evaluation at a time: this waits for the job's
    return job;
  }

  it('signs webhook bodies with HMAC-SHA256 (low free space fired at start)', async () => {
    const [low] = await eventually(
      () => webhook('low_space').length > 0 && webhook('low_space'),
      'low_space',
    );
    assert.equal(low.body.action, 'trigger');
    assert.match(low.body.alert.summary, /has [\d.]+ [KMGT]iB free, under the 1000.0 TiB minimum/);
    const expected = `sha256=${createHmac('sha256', SECRET).update(low.raw).digest('hex')}`;
    assert.equal(low.headers['x-lifeboat-signature'], expected);
    assert.equal(low.headers['x-lifeboat-event'], 'trigger');
    assert.equal(at('/slack').length, 0, 'slack only takes failures');
  });

  it('fires a failed backup once on every channel that takes failures', async () => {
    const job = await backup();
    assert.equal(job.status, 'failed');
    const [hook] = await eventually(() => webhook('failure').length > 0 && webhook('failure'), 'webhook');
    assert.equal(hook.body.action, 'trigger');
    assert.equal(hook.body.repeat, false);
    assert.equal(hook.body.alert.source, 'app');
    assert.equal(hook.body.alert.severity, 'error');
    assert.match(hook.body.alert.summary, /^backup of app failed: /);
    assert.equal(hook.body.origin.repository, h.repo);

    const slack = await eventually(() => at('/slack')[0], 'slack');
    assert.match(slack.body.text, /\[lifeboat\] FIRING failure app: backup of app failed/);

    const pd = await eventually(() => at('/pd')[0], 'pagerduty');
    assert.equal(pd.body.event_action, 'trigger');
    assert.equal(pd.body.routing_key, 'rk-test-123');
    assert.match(pd.body.dedup_key, /^lifeboat:[0-9a-f]{8}:failure:app$/);
    assert.equal(pd.body.payload.severity, 'error');
    assert.equal(pd.body.payload.component, 'app');

    const mail = await eventually(() => mails[0], 'email');
    assert.match(mail, /^Subject: \[lifeboat\] FIRING failure app: backup of app failed/m);
    assert.match(mail, /^To: ops@example\.com/m);

    // Evaluating again while it holds sends nothing new.
    const report = await h.server.evaluateAlerts();
    assert.deepEqual(report.fired, []);
    assert.deepEqual(report.repeated, []);
    assert.equal(webhook('failure').length, 1);
    assert.equal(at('/pd').length, 1);
  });

  it('repeats an alert that still holds after the interval', async () => {
    h.clock.tick(61 * 60_000);
    const report = await h.server.evaluateAlerts();
    assert.ok(report.repeated.includes('failure:app'), JSON.stringify(report));
    const hooks = webhook('failure');
    assert.equal(hooks.length, 2);
    assert.equal(hooks[1].body.repeat, true);
    const pds = at('/pd');
    assert.equal(pds.length, 2);
    assert.equal(pds[1].body.dedup_key, pds[0].body.dedup_key, 'PagerDuty keeps one incident');
    assert.match(at('/slack')[1].body.text, /STILL FIRING failure app/);
  });

  it('resolves it when a backup succeeds', async () => {
    const db = new Database(join(h.dir, 'app.db'));
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);');
    db.close();
    const job = await backup();
    assert.equal(job.status, 'succeeded', job.error ?? '');
    const resolved = await eventually(
      () => webhook('failure').find((r) => r.body.action === 'resolve'),
      'resolve',
    );
    assert.ok(resolved.body.alert.resolved_at);
    const pdResolve = await eventually(
      () => at('/pd').find((r) => r.body.event_action === 'resolve'),
      'pd resolve',
    );
    assert.equal(pdResolve.body.dedup_key, at('/pd')[0].body.dedup_key);
    await eventually(
      () => at('/slack').find((r) => /RESOLVED failure app/.test(r.body.text)),
      'slack resolve',
    );
    await eventually(
      () => mails.find((m) => /^Subject: \[lifeboat\] RESOLVED failure app/m.test(m)),
      'email resolve',
    );
  });

  it('fires an RPO breach when the last good backup gets older than max_age', async () => {
    h.clock.tick(2 * 3_600_000 + 60_000);
    const report = await h.server.evaluateAlerts();
    assert.deepEqual(report.fired, ['rpo_breach:app']);
    const [rpo] = webhook('rpo_breach');
    assert.equal(rpo.body.alert.severity, 'critical');
    assert.match(rpo.body.alert.summary, /last good backup of app is 2h 1m old, over its max_age of 2h/);
    const pd = at('/pd')
      .filter((r) => r.body.event_action === 'trigger')
      .at(-1);
    assert.match(pd?.body.dedup_key, /:rpo_breach:app$/);
    const sources = (await h.call('GET', '/api/sources')).body.sources;
    assert.equal(sources[0].rpo.breached, true);
    const metrics = (await h.call('GET', '/metrics')).text;
    assert.match(metrics, /^lifeboat_rpo_seconds\{source="app"\} 7260$/m);

    assert.equal((await backup()).status, 'succeeded');
    await eventually(() => webhook('rpo_breach').find((r) => r.body.action === 'resolve'), 'rpo resolved');
    assert.match(
      (await h.call('GET', '/metrics')).text,
      /^lifeboat_backup_failures_total\{source="app"\} 1$/m,
    );
  });

  it('fires a failed scheduled check', async () => {
    const packs: string[] = [];
    for (const sub of await readdir(join(h.repo, 'data'))) {
      for (const f of await readdir(join(h.repo, 'data', sub))) packs.push(join(h.repo, 'data', sub, f));
    }
    assert.ok(packs.length > 0);
    const data = await readFile(packs[0]);
    data[10] ^= 0xff;
    await writeFile(packs[0], data);
    h.clock.set(new Date(Math.ceil(h.clock.now().getTime() / 86_400_000) * 86_400_000 + 5 * 3_600_000));
    assert.ok(h.server.tick().includes('check'));
    const [check] = (await h.call('GET', '/api/jobs?kind=check')).body.jobs;
    const done = await h.waitJob(check.id);
    assert.equal(done.status, 'failed');
    assert.match(done.error, /damaged/);
    await h.server.evaluateAlerts();
    const [alert] = await eventually(
      () => webhook('check_failure').length > 0 && webhook('check_failure'),
      'check alert',
    );
    assert.match(alert.body.alert.summary, /^repository check failed: .*damaged/);
    assert.equal(
      at('/pd').filter((r) => /check_failure/.test(r.body.dedup_key)).length,
      0,
      'pagerduty does not take checks',
    );
  });
});
