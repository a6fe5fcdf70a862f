#!/usr/bin/env node
// Writes docs/lifeboat.schema.json, the JSON Schema of lifeboat.yaml for editors, from the
// compiled config schema. Usage: npm run build && node scripts/write-config-schema.js
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { configJsonSchema } = await import(pathToFileURL(join(root, 'dist/src/config/config.js')).href);
const out = join(root, 'docs/lifeboat.schema.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(configJsonSchema(), null, 2) + '\n');
console.log(`wrote ${out}`);
