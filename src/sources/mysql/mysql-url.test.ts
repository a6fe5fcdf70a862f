import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLifeboatError } from '../../errors.js';
import { createSource } from '../registry.js';
import { explainFailure, optionValue, quoteIdent, sqlString } from './mysql-tools.js';
import { describeServer, parseMysqlUrl, sameLogin, urlWithDatabase } from './mysql-url.js';

describe('mysql urls', () => {
  it('reads host, port, user, password and database, decoding escapes', () => {
    assert.deepEqual(parseMysqlUrl('mysql://app:p%40ss%23word@db.internal:3307/sales'), {
      host: 'db.internal',
      port: 3307,
      socket: undefined,
      user: 'app',
      password: 'p@ss#word',
      database: 'sales',
    });
    const bare = parseMysqlUrl('mariadb://root@127.0.0.1');
    assert.equal(bare.port, 3306);
    assert.equal(bare.password, undefined);
    assert.equal(bare.database, undefined);
  });

  it('takes a unix socket from ?socket=, with or without a host', () => {
    const a = parseMysqlUrl('mysql://u:pw@localhost/app?socket=/run/mysqld/mysqld.sock');
    assert.equal(a.socket, '/run/mysqld/mysqld.sock');
    assert.equal(describeServer(a), 'u@/run/mysqld/mysqld.sock');
    const b = parseMysqlUrl('mysql://u:pw@/app?socket=%2Ftmp%2Fm.sock');
    assert.equal(b.socket, '/tmp/m.sock');
    assert.equal(b.database, 'app');
  });

  it('refuses other schemes and unknown parameters without echoing the password', () => {
    for (const bad of [
      'postgres://u:secret@h/db',
      'mysql://u:secret@h/db?ssl=1',
      'not a url secret',
      'mysql://u:secret@h/a/b',
    ]) {
      assert.throws(
        () => parseMysqlUrl(bad),
        (err) => isLifeboatError(err) && err.code === 'config_invalid' && !err.message.includes('secret'),
      );
    }
  });

  it('names another database, keeping the rest', () => {
    assert.equal(urlWithDatabase('mysql://u:p@h:3307/a', 'b c'), 'mysql://u:p@h:3307/b%20c');
    assert.equal(parseMysqlUrl(urlWithDatabase('mysql://u:p@h/a?socket=/s', 'x')).socket, '/s');
  });

  it('tells whether two connections are the same login', () => {
    const a = parseMysqlUrl('mysql://u:p@h:1/a');
    assert.ok(sameLogin(a, parseMysqlUrl('mysql://u@h:1/b')));
    assert.ok(!sameLogin(a, parseMysqlUrl('mysql://v@h:1/b')));
    assert.ok(!sameLogin(a, parseMysqlUrl('mysql://u@h:2/b')));
  });
});

describe('mysql tool helpers', () => {
  it('writes option-file values the tools read back verbatim', () => {
    assert.equal(optionValue('plain'), '"plain"');
    assert.equal(optionValue('a#b"c\\d\'e f'), '"a#b\\"c\\\\d\'e f"');
    assert.equal(optionValue('line\nbreak\ttab'), '"line\\nbreak\\ttab"');
  });

  it('quotes identifiers and strings without ever needing escapes', () => {
    assert.equal(quoteIdent('we`ird'), '`we``ird`');
    assert.equal(sqlString("it's"), 'CONVERT(0x69742773 USING utf8mb4)');
    assert.equal(sqlString(''), "''");
  });

  it('explains tool failures by what happened, naming the source and server', () => {
    const conn = parseMysqlUrl('mysql://app:pw@db:3306/x');
    const denied = explainFailure(
      new Error(
        "[source:mysql] mariadb exited with code 1: ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.1'",
      ),
      'shop',
      conn,
      'backup',
    );
    assert.match(
      denied.message,
      /^\[source:mysql\] backup of source "shop" failed: access denied for app@db:3306 /,
    );
    const lost = explainFailure(
      new Error('mariadb-dump: Error 2013: Lost connection to server during query'),
      'shop',
      conn,
      'backup',
    );
    assert.match(lost.message, /lost the connection to app@db:3306/);
    assert.equal(lost.code, 'source_failed');
  });
});

describe('mysql source settings', () => {
  it('accepts type mysql and its alias mariadb, with one database, a list, or all', async () => {
    assert.equal((await createSource('a', { type: 'mysql', url: 'mysql://u:p@h/db' })).type, 'mysql');
    assert.equal((await createSource('a', { type: 'mariadb', url: 'mysql://u:p@h/db' })).type, 'mysql');
    assert.ok(
      (await createSource('a', { type: 'mysql', url: 'mysql://u:p@h', databases: ['x', 'y'] })).expand,
    );
    assert.ok((await createSource('a', { type: 'mysql', url: 'mysql://u:p@h', databases: 'all' })).expand);
    assert.equal((await createSource('a', { type: 'mysql', url: 'mysql://u:p@h/db' })).expand, undefined);
  });

  it('rejects a bad url by field, without echoing it', async () => {
    await assert.rejects(
      () => createSource('a', { type: 'mysql', url: 'http://u:topsecret@h/db' }),
      (err) =>
        isLifeboatError(err) &&
        /source "a": url: .*mysql:\/\//.test(err.message) &&
        !err.message.includes('topsecret'),
    );
    await assert.rejects(
      () => createSource('a', { type: 'mysql', url: 'mysql://h/db', databases: [] }),
      /databases/,
    );
  });
});
