/**
 * @module storage/settings-schemas
 * Each remote backend's settings schema, by the name of its config section (the scheme): what
 * the `repository:` section of lifeboat.yaml takes besides its own keys, and what
 * `StorageOptions[scheme]` holds. Kept apart from the registry (storage/registry.ts) so that
 * opening a repository loads no zod: only the config parser imports this.
 */
import { azureSettingsSchema } from './azure/azure-settings.js';
import { s3SettingsSchema } from './s3/s3-settings.js';
import { sftpSettingsSchema } from './sftp/sftp-settings.js';

export const storageSettingsSchemas = {
  s3: s3SettingsSchema,
  azure: azureSettingsSchema,
  sftp: sftpSettingsSchema,
};
