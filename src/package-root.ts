/**
 * @module package-root
 * The installed package's folder: the nearest folder above this module that holds
 * package.json. The same from the compiled modules (dist/src/…) and from the bundle the
 * `lifeboat` command runs (dist/bundle/, scripts/bundle-cli.js), which sit at other depths.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
