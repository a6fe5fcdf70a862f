import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHttpReceiver } from '../testing/alert-receivers.js';
import { runChannelContract, sampleEvent } from '../testing/channel-contract.js';
import { createPagerdutyChannel } from './pagerduty-channel.js';

const routing_key = 'R0UTING-s3cr3t';

runChannelContract('pagerduty', {
  type: 'pagerduty',
  startReceiver: () => startHttpReceiver('/v2/enqueue'),
  channel: (events_url, on) => createPagerdutyChannel({ type: 'pagerduty', routing_key, events_url, on }),
  secrets: [routing_key],
});

test('pagerduty: a trigger and its resolve share one dedup_key, so PagerDuty keeps one incident', async () => {
  const receiver = await startHttpReceiver('/v2/enqueue');
  try {
    const c = createPagerdutyChannel({ type: 'pagerduty', routing_key, events_url: receiver.url });
    await c.send(sampleEvent());
    await c.send(sampleEvent('resolve'));
    const [trigger, resolve] = receiver.received.map((b) => JSON.parse(b));
    assert.equal(trigger.event_action, 'trigger');
    assert.equal(resolve.event_action, 'resolve');
    assert.equal(trigger.dedup_key, 'lifeboat:01234567:failure:app-db');
    assert.equal(resolve.dedup_key, trigger.dedup_key);
  } finally {
    await receiver.close();
  }
});
