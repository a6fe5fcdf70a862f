import { startHttpReceiver } from '../testing/alert-receivers.js';
import { runChannelContract } from '../testing/channel-contract.js';
import { createSlackChannel } from './slack-channel.js';

runChannelContract('slack', {
  type: 'slack',
  startReceiver: () => startHttpReceiver(),
  channel: (webhook_url, on) => createSlackChannel({ type: 'slack', webhook_url, on }),
  secrets: ['s3cr3t-path'],
});
