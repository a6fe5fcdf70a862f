/**
 * Only sources/ knows engines by name: jobs, shells and the dashboard read what an engine
 * declares (sources/source.ts, EngineDeclaration) instead of switching on its type.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');
const ENGINES = 'postgres|mysql|mariadb|redis|mongodb|sqlite|lmdb|files|command';
const SWITCHES = [
  new RegExp(`\\b(engine|type)\\s*[!=]==\\s*'(${ENGINES})'`),
  new RegExp(`\\bcase\\s+'(${ENGINES})'\\s*:`),
];

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.tsx?$/.test(name) && !name.endsWith('.test.ts')) yield p;
  }
}

test('no module outside sources/ switches on an engine name', () => {
  const found: string[] = [];
  for (const dir of ['src', 'web/src']) {
    for (const file of files(join(ROOT, dir))) {
      const rel = relative(ROOT, file);
      if (rel.startsWith('src/sources/') || rel.startsWith('src/testing/')) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (SWITCHES.some((re) => re.test(line))) found.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
  }
  assert.deepEqual(found, [], "engine behaviour belongs in the engine's declaration");
});
