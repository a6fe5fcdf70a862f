#!/usr/bin/env node
// The quickstart: a real backup, verify and restore of an embedded sample (a SQLite database
// and a directory), with the lifeboat CLI, in ./.lifeboat-quickstart. Every command is shown.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const root = join(process.cwd(), '.lifeboat-quickstart');
rmSync(root, { recursive: true, force: true });
const sample = join(root, 'sample');
const files = join(sample, 'uploads');
const dbPath = join(sample, 'app.sqlite');
mkdirSync(join(files, 'avatars'), { recursive: true });
mkdirSync(join(files, 'empty-dir'), { recursive: true });
writeFileSync(join(files, 'README.txt'), 'Uploaded files of the sample app.\n');
writeFileSync(join(files, 'avatars', 'ada.png'), createHash('sha512').update('ada').digest());
writeFileSync(join(files, 'notes-ünïcødé.md'), '# naïve café ☕\n'.repeat(100));
symlinkSync('README.txt', join(files, 'LATEST'));

const db = new Database(dbPath);
db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total REAL);`);
const addUser = db.prepare('INSERT INTO users (name, email) VALUES (?, ?)');
const addOrder = db.prepare('INSERT INTO orders (user_id, total) VALUES (?, ?)');
db.transaction(() => {
  for (let i = 1; i <= 500; i++) {
    addUser.run(`user ${i}`, `user${i}@example.org`);
    addOrder.run(i, i * 1.25);
  }
})();
db.close();

writeFileSync(
  join(root, 'lifeboat.yaml'),
  `repository:
  url: ${join(root, 'repo')}
  password: \${LIFEBOAT_PASSWORD}
sources:
  app-db:
    type: sqlite
    path: ${dbPath}
  uploads:
    type: files
    path: ${files}
    exclude: ["*.tmp"]
`,
);

// LIFEBOAT_BIN runs an installed `lifeboat` instead (scripts/install-test.sh).
const bin = fileURLToPath(new URL('../bin/lifeboat.js', import.meta.url));
const command = process.env.LIFEBOAT_BIN ? [process.env.LIFEBOAT_BIN] : [process.execPath, bin];
const env = {
  ...process.env,
  LIFEBOAT_PASSWORD: 'quickstart-password',
  LIFEBOAT_CONFIG: join(root, 'lifeboat.yaml'),
};
function lifeboat(...args) {
  console.log(`\n$ lifeboat ${args.join(' ')}`);
  const out = execFileSync(command[0], [...command.slice(1), ...args], { env, encoding: 'utf8' });
  process.stdout.write(out);
  return out;
}

console.log(`sample data and config in ${root}`);
lifeboat('init');
lifeboat('backup');
lifeboat('snapshots');
lifeboat('check', '--read-data');
const restored = join(root, 'restored');
lifeboat('restore', 'latest', '--source', 'uploads', '--to', join(restored, 'uploads'));
lifeboat('restore', 'latest', '--source', 'app-db', '--to', join(restored, 'app.sqlite'));

// Show the restored data equal to the original.
function digestTree(dir) {
  const h = createHash('sha256');
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      h.update(`${relative(dir, p)}:${st?.mode}:${st?.isFile() ? readFileSync(p).toString('hex') : ''}\n`);
      if (st?.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return h.digest('hex');
}
function digestDb(path) {
  const d = new Database(path, { readonly: true });
  const rows = ['users', 'orders'].map((t) =>
    JSON.stringify(d.prepare(`SELECT * FROM ${t} ORDER BY id`).all()),
  );
  d.close();
  return createHash('sha256').update(rows.join('\n')).digest('hex');
}
const same = (a, b) => (a === b ? 'equal' : 'DIFFERENT');
const filesResult = same(digestTree(files), digestTree(join(restored, 'uploads')));
const dbResult = same(digestDb(dbPath), digestDb(join(restored, 'app.sqlite')));
console.log(`\nuploads: original and restored trees are ${filesResult}`);
console.log(`app-db: original and restored tables are ${dbResult}`);
if (filesResult !== 'equal' || dbResult !== 'equal') process.exit(1);
console.log('\nquickstart finished: backup, verify and restore all worked.');
