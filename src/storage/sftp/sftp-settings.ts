/**
 * @module storage/sftp/sftp-settings
 * The sftp backend's settings, `repository.sftp` in lifeboat.yaml: the one description of
 * them. The config schema, the backend's settings type and the JSON Schema editors get (with
 * these descriptions) all come from it. Kept apart from the backend so the config loads
 * without ssh2.
 */
import { z } from 'zod';

const text = z.string().min(1);

export const sftpSettingsSchema = z.strictObject({
  key_file: text
    .optional()
    .describe('Private key file; else the agent at SSH_AUTH_SOCK, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.'),
  key_passphrase: text.optional().describe('Passphrase of key_file.'),
  password: text.optional().describe('Password login (a key is better).'),
  known_hosts: text.optional().describe('known_hosts file (default ~/.ssh/known_hosts).'),
  host_key: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected a fingerprint as `ssh-keygen -lf` prints it: SHA256:...')
    .optional()
    .describe("The server's key fingerprint, SHA256:... as `ssh-keygen -lf` prints it; pins it."),
  concurrency: z
    .number()
    .int()
    .min(1)
    .max(256)
    .optional()
    .describe('Requests in flight per transfer (default 32).'),
});

export type SftpSettings = z.input<typeof sftpSettingsSchema>;
