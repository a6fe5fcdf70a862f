/**
 * @module testing/channel-contract
 * The shared suite every alert channel runs (notify/channel.ts states the rules): its label
 * and messages hold no secret, `on:` filters kinds, send() resolves only once a real local
 * receiver has the event, and a refusing or unreachable receiver fails it with
 * 'notify_failed'. Each channel's own test file gives a fixture and adds what is its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { ALERT_KINDS, type AlertChannel, type AlertEvent, type AlertKind } from '../notify/channel.js';
import { type AlertReceiver, closedPort } from './alert-receivers.js';

export interface ChannelFixture {
  /** The `type` of the channel's config entry. */
  type: string;
  /** Starts a receiver of the kind the channel delivers to (HTTP or SMTP). */
  startReceiver(): Promise<AlertReceiver>;
  /** A channel delivering to `url`, receiving the `on` kinds (every kind without). */
  channel(url: string, on?: AlertKind[]): AlertChannel;
  /** What the config holds that must never show in a label or a message. */
  secrets: string[];
  /** The HTTP status or SMTP code that refuses a delivery for now (default 503). */
  refusal?: number;
}

/** An event as the dispatcher sends it; `summary` and `key` are what deliveries must name. */
export function sampleEvent(action: AlertEvent['action'] = 'trigger', repeat = false): AlertEvent {
  return {
    action,
    repeat,
    alert: {
      key: 'failure:app-db',
      kind: 'failure',
      source: 'app-db',
      severity: 'error',
      summary: 'backup of app-db failed: disk full',
      details: { job: 42 },
      first_at: '2026-03-01T12:00:00.000Z',
      resolved_at: action === 'resolve' ? '2026-03-01T13:00:00.000Z' : null,
    },
    time: '2026-03-01T13:00:00.000Z',
    origin: { host: 'backup-1', repository: 's3://bucket/repo', repository_id: '0123456789abcdef' },
  };
}

function assertNoSecret(fixture: ChannelFixture, text: string, what: string): void {
  for (const secret of fixture.secrets) assert.ok(!text.includes(secret), `${what} holds a secret: ${text}`);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('send resolved where it must reject');
}

function assertNotifyFailed(fixture: ChannelFixture, err: unknown): void {
  assert.ok(isLifeboatError(err), `a LifeboatError, not ${String(err)}`);
  assert.equal(err.code, 'notify_failed');
  assert.equal(err.retryable, true, 'a receiver that is down or busy may take it later');
  assert.match(err.message, new RegExp(`^\\[notify:${fixture.type}\\] `));
  assertNoSecret(fixture, err.message, 'the message');
}

export function runChannelContract(
  name: string,
  fixture: ChannelFixture,
  options: { skip?: string } = {},
): void {
  if (options.skip) console.log(`# SKIPPED channel contract: ${name}: ${options.skip}`);
  describe(`channel contract: ${name}`, { skip: options.skip }, () => {
    let receiver: AlertReceiver;
    const opened: AlertChannel[] = [];
    const open = (url: string, on?: AlertKind[]) => {
      const c = fixture.channel(url, on);
      opened.push(c);
      return c;
    };

    before(async () => {
      receiver = await fixture.startReceiver();
    });
    after(async () => {
      for (const c of opened) c.close?.();
      await receiver?.close();
    });

    test('its type is its config type, its label names the type and host and no secret', () => {
      const c = open(receiver.url);
      assert.equal(c.type, fixture.type);
      assert.ok(c.label.startsWith(`${fixture.type} `), c.label);
      assert.ok(c.label.includes(new URL(receiver.url).host), `${c.label} names the receiver's host`);
      assertNoSecret(fixture, c.label, 'the label');
    });

    test('without `on` it accepts every kind; with `on`, only those', () => {
      const all = open(receiver.url);
      for (const kind of ALERT_KINDS) assert.ok(all.accepts(kind), kind);
      const some = open(receiver.url, ['failure', 'low_space']);
      assert.deepEqual(
        ALERT_KINDS.filter((k) => some.accepts(k)),
        ['failure', 'low_space'],
      );
    });

    test('a trigger, a repeat and a resolve each arrive before send() resolves, naming the alert', async () => {
      const c = open(receiver.url);
      const event = sampleEvent();
      for (const e of [event, sampleEvent('trigger', true), sampleEvent('resolve')]) {
        const before = receiver.received.length;
        await c.send(e);
        assert.equal(receiver.received.length, before + 1, `${e.action} arrived once`);
        const got = receiver.received[before];
        assert.ok(
          got.includes(e.alert.summary) || got.includes(e.alert.key),
          `the ${e.action} names the alert: ${got.slice(0, 300)}`,
        );
      }
    });

    test('a receiver that refuses fails send() with a retryable notify_failed and no secret', async () => {
      const c = open(receiver.url);
      receiver.refuse(fixture.refusal ?? 503);
      try {
        const before = receiver.received.length;
        assertNotifyFailed(fixture, await rejection(c.send(sampleEvent())));
        assert.equal(receiver.received.length, before);
      } finally {
        receiver.refuse(undefined);
      }
      await c.send(sampleEvent());
    });

    test('an unreachable receiver fails send() with a retryable notify_failed and no secret', async () => {
      const c = open(withPort(receiver.url, await closedPort()));
      assertNotifyFailed(fixture, await rejection(c.send(sampleEvent())));
    });

    test('close(), where there is one, is safe whether or not anything was sent', async () => {
      const unused = fixture.channel(receiver.url);
      unused.close?.();
      const used = fixture.channel(receiver.url);
      await used.send(sampleEvent());
      used.close?.();
    });
  });
}

/** `url` with another port: where the channel finds nobody. */
function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}
