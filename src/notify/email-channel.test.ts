import { startSmtpReceiver } from '../testing/alert-receivers.js';
import { runChannelContract } from '../testing/channel-contract.js';
import { createEmailChannel } from './email-channel.js';

runChannelContract('email', {
  type: 'email',
  startReceiver: () => startSmtpReceiver('alerts', 'smtp-s3cr3t'),
  channel: (smtp_url, on) =>
    createEmailChannel({ type: 'email', smtp_url, from: 'lifeboat@example.com', to: 'ops@example.com', on }),
  secrets: ['smtp-s3cr3t'],
  refusal: 451,
});
