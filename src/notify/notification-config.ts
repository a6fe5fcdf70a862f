/**
 * @module notify/notification-config
 * The schema of a `notifications:` entry of lifeboat.yaml, built from the channel registry:
 * one channel each and the alert kinds it receives. The config schema imports it.
 */
import { z } from 'zod';
import { CHANNEL_TYPES, type ChannelConfig, channelSchemas } from './channel-registry.js';

export type { ChannelConfig };

/**
 * One `notifications:` entry. Checked in three steps so messages stay plain: `type` present,
 * then one of the known types, then that channel's own keys.
 */
export const notificationSchema = z
  .looseObject({ type: z.string() })
  .pipe(z.looseObject({ type: z.enum(CHANNEL_TYPES) }))
  .pipe(z.discriminatedUnion('type', channelSchemas))
  // The JSON Schema of a pipe shows only its first step; editors get each channel's keys here.
  .meta({
    oneOf: channelSchemas.map((s) => {
      const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input' });
      return rest;
    }),
  });
