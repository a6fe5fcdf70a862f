/**
 * @module storage/azure/azure-settings
 * The azure backend's settings, `repository.azure` in lifeboat.yaml: the one description of
 * them. The config schema, the backend's settings type and the JSON Schema editors get (with
 * these descriptions) all come from it. Kept apart from the backend so the config loads
 * without the Azure SDK.
 */
import { z } from 'zod';
import { byteSizeSchema } from '../../byte-size-schema.js';

const text = z.string().min(1);

export const azureSettingsSchema = z.strictObject({
  connection_string: text.optional().describe('A connection string; else AZURE_STORAGE_CONNECTION_STRING.'),
  account: text.optional().describe('Storage account name, with key or sas; else AZURE_STORAGE_ACCOUNT.'),
  key: text.optional().describe('Account key; else AZURE_STORAGE_KEY.'),
  sas: text
    .optional()
    .describe("A SAS token (the query string, with or without '?'); else AZURE_STORAGE_SAS_TOKEN."),
  endpoint: z
    .string()
    .url()
    .optional()
    .describe('Blob service URL (default https://ACCOUNT.blob.core.windows.net).'),
  create_container: z
    .boolean()
    .optional()
    .describe('Create the container on init when it is missing (default true).'),
  block_size: byteSizeSchema
    .optional()
    .describe('Objects larger than this go up as blocks of this size (default 8MiB).'),
  page_size: z
    .number()
    .int()
    .min(1)
    .max(5000)
    .optional()
    .describe('Blobs per listing request (default 5000, the Azure maximum).'),
});

export type AzureSettings = z.input<typeof azureSettingsSchema>;
