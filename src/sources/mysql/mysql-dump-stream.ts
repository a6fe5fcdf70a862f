/**
 * @module sources/mysql/mysql-dump-stream
 * Reading a mariadb-dump / mysqldump SQL stream as it passes, in bounded memory: the rows of
 * each table (counted from the INSERT statements, so they are exactly what the dump holds, in
 * its own consistent snapshot), the server version, whether the dump completed, and a filter
 * that keeps only chosen tables' sections for a partial restore.
 *
 * The dump is a sequence of sections, each opened by a comment line such as
 * "-- Table structure for table `t`" or "-- Dumping data for table `t`". Data lines never hold
 * a raw newline (the tool escapes them inside strings), so section headers are recognised at
 * line starts; only the first bytes of a line are ever buffered.
 */

export type SectionKind =
  | 'preamble'
  | 'structure'
  | 'data'
  | 'view-placeholder'
  | 'view'
  | 'events'
  | 'routines'
  | 'other';

export interface Section {
  kind: SectionKind;
  /** The table or view the section is about. */
  name?: string;
}

export interface DumpFacts {
  /** Rows per table, in dump order; a table with a data section and no rows has 0. */
  rows: Record<string, number>;
  views: string[];
  serverVersion?: string;
  /** The dump's own header line, e.g. "MariaDB dump 10.19  Distrib 10.11.19-MariaDB, ...". */
  dumpVersion?: string;
  /** True when the "-- Dump completed" trailer was seen. */
  completed: boolean;
}

const NL = 0x0a;
const QUOTE = 0x27; // '
const BACKSLASH = 0x5c;
const OPEN = 0x28;
const CLOSE = 0x29;
const SEMI = 0x3b;
const DASH = 0x2d;
/** Longest comment line read as a possible header; longer ones are not headers. */
const HEAD_MAX = 4096;

enum State {
  LineStart,
  /** Collecting a comment line ("-..."). */
  Comment,
  /** Matching the INSERT prefix of the current data section. */
  InsertPrefix,
  Insert,
  InsertString,
  InsertEscape,
  RestOfLine,
}

/**
 * A byte-level reader of a dump. `feed` takes each chunk in order; with a `keep` predicate it
 * returns the parts of the chunk that belong to kept sections (for the table filter).
 */
export class DumpReader {
  private readonly rows = new Map<string, number>();
  private readonly views: string[] = [];
  private serverVersion: string | undefined;
  private dumpVersion: string | undefined;
  private completed = false;
  private state = State.LineStart;
  private section: Section = { kind: 'preamble' };
  private head: Buffer[] = [];
  private headLength = 0;
  /** "INSERT INTO `t` VALUES" for the current data section. */
  private insertPrefix: Buffer | undefined;
  private matched = 0;
  private depth = 0;
  private table: string | undefined;
  private count = 0;

  constructor(private readonly keep?: (section: Section) => boolean) {}

  /** Reads one chunk; returns the bytes to pass on when filtering (else an empty list). */
  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    let emitFrom = 0; // start of the pending run of bytes that belong to the current section
    const flush = (end: number) => {
      if (this.keep && end > emitFrom && this.keep(this.section)) out.push(chunk.subarray(emitFrom, end));
      emitFrom = end;
    };
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case State.LineStart: {
          const b = chunk[i];
          if (b === DASH) {
            // Possibly a section header: hold the line until it is complete.
            flush(i);
            this.state = State.Comment;
          } else if (this.insertPrefix && b === this.insertPrefix[0]) {
            this.state = State.InsertPrefix;
            this.matched = 0;
          } else if (b === NL) {
            i++;
          } else {
            this.state = State.RestOfLine;
          }
          break;
        }
        case State.Comment: {
          const nl = chunk.indexOf(NL, i);
          const lineEnd = nl === -1 ? n : nl + 1;
          const room = HEAD_MAX - this.headLength;
          if (lineEnd - i > room) {
            // Too long for a header: pass it on as an ordinary line.
            this.head.push(Buffer.from(chunk.subarray(i, i + room)));
            const line = Buffer.concat(this.head);
            this.head = [];
            this.headLength = 0;
            if (this.keep?.(this.section)) out.push(line);
            i += room;
            emitFrom = i;
            this.state = State.RestOfLine;
            break;
          }
          // Held in `head` and emitted once the line's section is known.
          this.head.push(Buffer.from(chunk.subarray(i, lineEnd)));
          this.headLength += lineEnd - i;
          i = lineEnd;
          emitFrom = lineEnd;
          if (nl !== -1) {
            const line = Buffer.concat(this.head);
            this.head = [];
            this.headLength = 0;
            this.onComment(line.toString('utf8').replace(/\r?\n$/, ''));
            if (this.keep?.(this.section)) out.push(line);
            this.state = State.LineStart;
          }
          break;
        }
        case State.InsertPrefix: {
          const prefix = this.insertPrefix!;
          while (i < n && this.matched < prefix.length && chunk[i] === prefix[this.matched]) {
            i++;
            this.matched++;
          }
          if (this.matched === prefix.length) {
            this.state = State.Insert;
            this.depth = 0;
          } else if (i < n) {
            this.state = chunk[i] === NL ? State.LineStart : State.RestOfLine;
            if (chunk[i] === NL) i++;
          }
          break;
        }
        case State.Insert: {
          // Values are numbers, NULL, hex literals and quoted strings: a "(" outside a string at
          // depth 0 opens a row; ";" outside a string at depth 0 ends the statement.
          for (; i < n; i++) {
            const b = chunk[i];
            if (b === QUOTE) {
              this.state = State.InsertString;
              i++;
              break;
            }
            if (b === OPEN) {
              if (this.depth === 0) this.count++;
              this.depth++;
            } else if (b === CLOSE) {
              this.depth--;
            } else if (b === SEMI && this.depth === 0) {
              this.state = State.RestOfLine;
              i++;
              break;
            }
          }
          break;
        }
        case State.InsertString: {
          for (; i < n; i++) {
            const b = chunk[i];
            if (b === BACKSLASH) {
              this.state = State.InsertEscape;
              i++;
              break;
            }
            if (b === QUOTE) {
              this.state = State.Insert;
              i++;
              break;
            }
          }
          break;
        }
        case State.InsertEscape: {
          i++;
          this.state = State.InsertString;
          break;
        }
        case State.RestOfLine: {
          const nl = chunk.indexOf(NL, i);
          if (nl === -1) {
            i = n;
          } else {
            i = nl + 1;
            this.state = State.LineStart;
          }
          break;
        }
      }
    }
    if (this.state !== State.Comment) flush(n);
    return out;
  }

  /** What the dump held so far (all of it once the last chunk was fed). */
  get facts(): DumpFacts {
    this.closeTable();
    return {
      // fromEntries defines own properties, so a table named "__proto__" is kept as data.
      rows: Object.fromEntries(this.rows),
      views: [...this.views],
      serverVersion: this.serverVersion,
      dumpVersion: this.dumpVersion,
      completed: this.completed,
    };
  }

  private closeTable(): void {
    if (this.table !== undefined) this.rows.set(this.table, (this.rows.get(this.table) ?? 0) + this.count);
    this.count = 0;
  }

  /** Reads a complete comment line: section headers and the dump's header facts. */
  private onComment(line: string): void {
    const header =
      /^-- (Table structure for table|Dumping data for table|Temporary (?:table|view) structure for view|Final view structure for view|Dumping events for database|Dumping routines for database) (.*)$/.exec(
        line,
      );
    if (header) {
      const [, what, rest] = header;
      const name = unquote(rest);
      this.closeTable();
      this.insertPrefix = undefined;
      this.table = undefined;
      switch (what) {
        case 'Table structure for table':
          this.section = { kind: 'structure', name };
          break;
        case 'Dumping data for table':
          this.section = { kind: 'data', name };
          this.table = name;
          this.rows.set(name, this.rows.get(name) ?? 0);
          this.insertPrefix = Buffer.from(`INSERT INTO \`${name.replace(/`/g, '``')}\` VALUES`, 'utf8');
          break;
        case 'Final view structure for view':
          this.section = { kind: 'view', name };
          this.views.push(name);
          break;
        case 'Dumping events for database':
          this.section = { kind: 'events' };
          break;
        case 'Dumping routines for database':
          this.section = { kind: 'routines' };
          break;
        default:
          this.section = { kind: 'view-placeholder', name };
      }
      return;
    }
    if (line.startsWith('-- Dump completed')) {
      this.closeTable();
      this.completed = true;
      this.section = { kind: 'other' };
      this.insertPrefix = undefined;
      this.table = undefined;
      return;
    }
    const version = /^-- Server version\s+(.+)$/.exec(line);
    if (version) this.serverVersion = version[1].trim();
    const dump = /^-- ((?:MariaDB|MySQL) dump .+)$/.exec(line);
    if (dump) this.dumpVersion = dump[1].trim();
  }
}

/** `name` from "`name`" (backquotes doubled inside) or "'name'". */
function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && t.startsWith('`') && t.endsWith('`')) return t.slice(1, -1).replace(/``/g, '`');
  if (t.length >= 2 && t.startsWith("'") && t.endsWith("'")) return t.slice(1, -1);
  return t;
}

/** Passes a dump through unchanged while reading its facts; `facts` is final once the stream ends. */
export function scanDump(
  stream: AsyncIterable<Uint8Array>,
  onBytes?: (n: number) => void,
): { stream: AsyncIterable<Buffer>; facts: () => DumpFacts } {
  const reader = new DumpReader();
  async function* pass(): AsyncIterable<Buffer> {
    for await (const chunk of stream) {
      const buf = Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      reader.feed(buf);
      onBytes?.(buf.length);
      yield buf;
    }
  }
  return { stream: pass(), facts: () => reader.facts };
}

/**
 * Keeps the preamble (session settings) and the structure and data sections (with their
 * triggers) of `tables`; drops every other table, views, events and routines.
 */
export async function* filterTables(
  stream: AsyncIterable<Uint8Array>,
  tables: string[],
): AsyncIterable<Buffer> {
  const wanted = new Set(tables);
  const reader = new DumpReader(
    (s) =>
      s.kind === 'preamble' ||
      ((s.kind === 'structure' || s.kind === 'data') && s.name !== undefined && wanted.has(s.name)),
  );
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const parts = reader.feed(buf);
    if (parts.length === 1) yield parts[0];
    else if (parts.length > 1) yield Buffer.concat(parts);
  }
}
