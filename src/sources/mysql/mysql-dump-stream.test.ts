import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DumpFacts, DumpReader, filterTables, scanDump } from './mysql-dump-stream.js';

/** A dump shaped like mariadb-dump's, with values chosen to trip a naive reader. */
const DUMP = [
  '/*M!999999\\- enable the sandbox mode */ ',
  '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)',
  '--',
  '-- Host: 127.0.0.1    Database: app',
  '-- ------------------------------------------------------',
  '-- Server version\t10.11.19-MariaDB-0+deb12u1',
  '',
  '/*!40101 SET NAMES utf8mb4 */;',
  '/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;',
  '',
  '--',
  '-- Table structure for table `a`',
  '--',
  '',
  'DROP TABLE IF EXISTS `a`;',
  'CREATE TABLE `a` (`id` int(11) NOT NULL, `s` text) ENGINE=InnoDB;',
  '',
  '--',
  '-- Dumping data for table `a`',
  '--',
  '',
  'LOCK TABLES `a` WRITE;',
  'INSERT INTO `a` VALUES',
  "(1,'x),(y'),",
  "(2,'it\\'s; (not) a row\\\\'),",
  "(3,'-- Dumping data for table `b`'),",
  '(4,NULL);',
  "INSERT INTO `a` VALUES (5,'\\n(5)'),(6,0x28293B27);",
  'UNLOCK TABLES;',
  'DELIMITER ;;',
  '/*!50003 CREATE*/ /*!50003 TRIGGER a_ai AFTER INSERT ON a FOR EACH ROW BEGIN',
  'INSERT INTO `b` VALUES (NEW.id, 1);',
  'END */;;',
  'DELIMITER ;',
  '',
  '--',
  '-- Table structure for table `b`',
  '--',
  '',
  'CREATE TABLE `b` (`id` int(11)) ENGINE=InnoDB;',
  '',
  '--',
  '-- Dumping data for table `b`',
  '--',
  '',
  'LOCK TABLES `b` WRITE;',
  'UNLOCK TABLES;',
  '',
  '--',
  '-- Table structure for table `odd``name`',
  '--',
  '',
  'CREATE TABLE `odd``name` (`id` int(11)) ENGINE=InnoDB;',
  '',
  '--',
  '-- Dumping data for table `odd``name`',
  '--',
  '',
  'INSERT INTO `odd``name` VALUES (1),(2),(3);',
  '',
  '--',
  "-- Dumping routines for database 'app'",
  '--',
  'CREATE PROCEDURE p() BEGIN',
  "INSERT INTO `a` VALUES (9,'routine');",
  'END ;;',
  '',
  '--',
  '-- Final view structure for view `v`',
  '--',
  '',
  '/*!50001 VIEW `v` AS select 1 AS `x` */;',
  '/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;',
  '',
  '-- Dump completed',
  '',
].join('\n');

function factsOf(chunks: Buffer[]): DumpFacts {
  const reader = new DumpReader();
  for (const c of chunks) reader.feed(c);
  return reader.facts;
}

function splitEvery(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

async function* from(chunks: Buffer[]): AsyncIterable<Buffer> {
  for (const c of chunks) yield c;
}

async function collect(stream: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

describe('mysql dump reader', () => {
  const whole = Buffer.from(DUMP, 'utf8');

  it('counts the rows of each table from its INSERT statements, ignoring strings, triggers and routines', () => {
    const facts = factsOf([whole]);
    assert.deepEqual(facts.rows, { a: 6, b: 0, 'odd`name': 3 });
    assert.deepEqual(facts.views, ['v']);
    assert.equal(facts.serverVersion, '10.11.19-MariaDB-0+deb12u1');
    assert.equal(
      facts.dumpVersion,
      'MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)',
    );
    assert.equal(facts.completed, true);
  });

  it('gives the same facts whatever the chunk boundaries', () => {
    const expected = factsOf([whole]);
    for (const size of [1, 2, 3, 5, 7, 13, 64]) {
      assert.deepEqual(factsOf(splitEvery(whole, size)), expected, `chunks of ${size}`);
    }
  });

  it('notices a dump that was cut short', () => {
    const cut = whole.subarray(0, whole.indexOf('-- Dump completed'));
    assert.equal(factsOf([cut]).completed, false);
  });

  it('keeps a table named __proto__ as data', () => {
    const dump =
      '-- Dumping data for table `__proto__`\nINSERT INTO `__proto__` VALUES (1),(2);\n-- Dump completed\n';
    const facts = factsOf([Buffer.from(dump)]);
    assert.equal(Object.hasOwn(facts.rows, '__proto__'), true);
    assert.equal(Object.getOwnPropertyDescriptor(facts.rows, '__proto__')?.value, 2);
  });

  it('passes the stream through unchanged while scanning', async () => {
    let bytes = 0;
    const scan = scanDump(from(splitEvery(whole, 11)), (n) => {
      bytes += n;
    });
    assert.equal(await collect(scan.stream), DUMP);
    assert.equal(bytes, whole.length);
    assert.deepEqual(scan.facts().rows, { a: 6, b: 0, 'odd`name': 3 });
  });

  it('passes a very long comment line on whole', async () => {
    const long = `-- ${'x'.repeat(10_000)}\n`;
    const dump = Buffer.from(`${long}-- Table structure for table \`a\`\nCREATE TABLE a;\n`);
    for (const size of [1, 100, 5000, dump.length]) {
      assert.equal(await collect(filterTables(from(splitEvery(dump, size)), ['a'])), dump.toString());
    }
  });
});

describe('mysql table filter', () => {
  const whole = Buffer.from(DUMP, 'utf8');

  it('keeps the preamble and the chosen tables with their triggers, nothing else', async () => {
    for (const size of [1, 4, 17, whole.length]) {
      const out = await collect(filterTables(from(splitEvery(whole, size)), ['a']));
      assert.match(out, /^\/\*M!999999/);
      assert.match(out, /SET NAMES utf8mb4/);
      assert.match(out, /CREATE TABLE `a`/);
      assert.match(out, /\(6,0x28293B27\);/);
      assert.match(out, /TRIGGER a_ai/);
      assert.doesNotMatch(out, /CREATE TABLE `b`/);
      assert.doesNotMatch(out, /odd``name/);
      assert.doesNotMatch(out, /routine/);
      assert.doesNotMatch(out, /VIEW `v`/);
      // Lines come through whole and in order.
      const kept = whole.toString().split('\n');
      let at = 0;
      for (const line of out.split('\n')) {
        const found = kept.indexOf(line, at);
        assert.ok(found >= at, `line out of order or altered: ${line}`);
        at = found;
      }
    }
  });

  it('selects tables by their exact names', async () => {
    const out = await collect(filterTables(from([whole]), ['odd`name']));
    assert.match(out, /INSERT INTO `odd``name` VALUES \(1\),\(2\),\(3\);/);
    assert.doesNotMatch(out, /CREATE TABLE `a`/);
  });
});
