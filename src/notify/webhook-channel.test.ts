import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHttpReceiver } from '../testing/alert-receivers.js';
import { runChannelContract, sampleEvent } from '../testing/channel-contract.js';
import { createWebhookChannel, signBody } from './webhook-channel.js';

const secret = 'whsec-s3cr3t';

runChannelContract('webhook', {
  type: 'webhook',
  startReceiver: () => startHttpReceiver(),
  channel: (url, on) => createWebhookChannel({ type: 'webhook', url, secret, on }),
  secrets: [secret, 's3cr3t-path'],
});

test('webhook: the body is the event, version 1, signed with the secret', async () => {
  const receiver = await startHttpReceiver();
  try {
    await createWebhookChannel({ type: 'webhook', url: receiver.url, secret }).send(sampleEvent());
    const body = receiver.received[0];
    assert.deepEqual(JSON.parse(body), { version: 1, ...sampleEvent() });
    assert.match(signBody(secret, body), /^sha256=[0-9a-f]{64}$/);
  } finally {
    await receiver.close();
  }
});
