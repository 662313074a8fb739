// The SQLite binding: libsql (N-API, one prebuilt binary per platform on npm,
// @libsql/<platform>), behind the part of better-sqlite3's synchronous API the
// registry is written against, with better-sqlite3's behaviour where libsql's
// differs. Why libsql and not better-sqlite3 or node:sqlite: docs/sqlite.md.
//
// The differences handled here (libsql 0.5.29):
// - get() rows carry an extra enumerable `_metadata` field: rows are read as
//   arrays (raw) and made into objects here, which is also faster.
// - pragma(x, { simple: true }) returned the whole row: the first column's value.
// - transaction() could not nest ("cannot start a transaction within a
//   transaction"): nested calls use savepoints, as better-sqlite3's do, and a
//   failure rolls back only if SQLite has not already.
// - binding a boolean aborted the process (a Rust panic): a TypeError, as in
//   better-sqlite3.
// - a single `null` argument ("get(null)") was taken for a named-parameter object.
// - named values given to a statement with a bare `?` aborted the process (a
//   Rust panic): a TypeError.
// Not handled (the registry never relies on them): too few positional values
// leave earlier bindings in place instead of throwing; a string of several
// statements prepares the first; all() returns BLOBs as ArrayBuffer (get() as
// Buffer); no user functions, backup or serialize; no raw() or expand().
import Libsql from 'libsql';

type NativeDb = InstanceType<typeof Libsql>;
/** libsql's Statement as this module uses it (its typings are better-sqlite3's, generic over the parameters). */
interface NativeStatement {
  readonly reader: boolean;
  run(params?: unknown): RunResult;
  get(params: unknown): unknown;
  all(params: unknown): unknown[];
  iterate(params: unknown): IterableIterator<unknown>;
  raw(on?: boolean): unknown;
  columns(): { name: string }[];
}

export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/** Rejects what libsql cannot bind and better-sqlite3 refuses (libsql aborts on a boolean). */
function checkValue(v: unknown): void {
  if (typeof v === 'boolean') throw new TypeError('SQLite3 can only bind numbers, strings, bigints, buffers, and null');
}

/** A plain object: named values. Anything else (a Date, a Map) is a value, which libsql refuses to bind. */
function isNamed(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Whether the SQL has a bare `?` parameter (outside strings, quoted names and comments): it has no name to bind by. */
export function hasAnonymousParameter(sql: string): boolean {
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const end = sql.indexOf(c === '[' ? ']' : c, i + 1);
      if (end < 0) return false;
      i = end; // a doubled quote inside is two quoted runs back to back: same result
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i + 2);
      if (end < 0) return false;
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) return false;
      i = end + 1;
    } else if (c === '?' && !/[0-9]/.test(sql[i + 1] ?? '')) {
      return true;
    }
  }
  return false;
}

/**
 * better-sqlite3's binding forms: positional values (arrays flattened one
 * level) and at most one object of named values. libsql is given exactly one
 * argument, an array or an object, so a lone array or null is never mistaken
 * for names.
 */
function bindArg(params: unknown[], anonymous: boolean): unknown[] | Record<string, unknown> {
  let simple = true;
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (typeof p === 'boolean') checkValue(p);
    if (typeof p === 'object' && p !== null && !ArrayBuffer.isView(p)) simple = false;
  }
  if (simple) return params; // the common case: a fresh array of plain values
  if (params.length === 1 && isNamed(params[0])) {
    if (anonymous) throw new TypeError('named parameters given to a statement with a bare ? parameter (use an array or separate values)');
    for (const k in params[0]) checkValue(params[0][k]);
    return params[0];
  }
  const flat: unknown[] = [];
  for (const p of params) {
    if (Array.isArray(p)) {
      for (const x of p) {
        checkValue(x);
        flat.push(x);
      }
    } else if (isNamed(p)) {
      throw new TypeError('named parameters must be the only argument');
    } else {
      flat.push(p);
    }
  }
  return flat;
}

/** Builds a row object from libsql's raw row array: one object shape per statement, as better-sqlite3's rows have. */
type RowMaker = (values: unknown[]) => Record<string, unknown>;
function rowMaker(names: string[]): RowMaker {
  // Object literals with the keys written out: V8 gives every row the same fast shape.
  // A repeated name keeps its last value, as in better-sqlite3. A column
  // named __proto__ gets a computed key: an own property, not the prototype.
  const key = (n: string) => (n === '__proto__' ? `[${JSON.stringify(n)}]` : JSON.stringify(n));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('v', `return { ${names.map((n, i) => `${key(n)}: v[${i}]`).join(', ')} };`) as RowMaker;
}

export class Statement {
  private plucked = false;
  private readonly anonymous: boolean;
  /** Whether the statement returns rows (get/all/iterate), as better-sqlite3's `reader`. */
  readonly reader: boolean;
  private makeRow: RowMaker | undefined;
  private columnCount = -1;

  constructor(
    private readonly st: NativeStatement,
    sql: string,
  ) {
    this.anonymous = hasAnonymousParameter(sql);
    this.reader = st.reader;
    // Rows come back as arrays and are made into objects here: libsql's own
    // row objects carry an extra `_metadata` field (get) and cost more to build.
    if (this.reader) st.raw(true);
  }

  private row(values: unknown[]): Record<string, unknown> {
    if (values.length !== this.columnCount || !this.makeRow) {
      // First row, or the schema changed under a `SELECT *` and SQLite re-prepared it.
      const names = this.st.columns().map((c) => c.name);
      this.columnCount = names.length;
      this.makeRow = rowMaker(names);
    }
    return this.makeRow(values);
  }

  run(...params: unknown[]): RunResult {
    const r = this.st.run(bindArg(params, this.anonymous));
    return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
  }

  /** The first row (undefined when there is none), or its first column after pluck(). */
  get(...params: unknown[]): unknown {
    if (!this.reader) throw new TypeError('This statement does not return data. Use run() instead');
    const values = this.st.get(bindArg(params, this.anonymous)) as unknown[] | undefined | null;
    if (values === undefined || values === null) return undefined;
    return this.plucked ? values[0] : this.row(values);
  }

  all(...params: unknown[]): unknown[] {
    if (!this.reader) throw new TypeError('This statement does not return data. Use run() instead');
    const rows = this.st.all(bindArg(params, this.anonymous)) as unknown[][];
    const out = new Array<unknown>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.plucked ? rows[i]![0] : this.row(rows[i]!);
    return out;
  }

  *iterate(...params: unknown[]): IterableIterator<unknown> {
    if (!this.reader) throw new TypeError('This statement does not return data. Use run() instead');
    for (const values of this.st.iterate(bindArg(params, this.anonymous)) as IterableIterator<unknown[]>) {
      yield this.plucked ? values[0] : this.row(values);
    }
  }

  /** Rows as their first column's value (better-sqlite3's pluck). */
  pluck(on = true): this {
    this.plucked = on;
    return this;
  }
}

type BeginMode = 'deferred' | 'immediate' | 'exclusive';

/** better-sqlite3's transaction function: call it (deferred), or .immediate(...) / .exclusive(...) / .deferred(...). */
export type Transaction<A extends unknown[], R> = ((...args: A) => R) & Record<BeginMode | 'default', (...args: A) => R>;

export class Database {
  private readonly db: NativeDb;
  private readonly tx: Record<BeginMode | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', NativeStatement>;

  constructor(file: string) {
    this.db = new Libsql(file);
    // better-sqlite3 waits up to 5 s for another connection's lock (its `timeout` default); a fresh libsql
    // connection waits 0 ms and fails at once with "database is locked", before any pragma of the caller's
    // could say otherwise (a daemon started while the previous one's last checkpoint or a reader held the file).
    this.db.exec('PRAGMA busy_timeout = 5000');
    const savepoint = '"\t_slurm_ml_tx\t"';
    const prepare = (sql: string) => this.db.prepare(sql) as NativeStatement;
    this.tx = {
      deferred: prepare('BEGIN DEFERRED'),
      immediate: prepare('BEGIN IMMEDIATE'),
      exclusive: prepare('BEGIN EXCLUSIVE'),
      commit: prepare('COMMIT'),
      rollback: prepare('ROLLBACK'),
      savepoint: prepare(`SAVEPOINT ${savepoint}`),
      release: prepare(`RELEASE ${savepoint}`),
      rollbackTo: prepare(`ROLLBACK TO ${savepoint}`),
    };
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  get open(): boolean {
    return this.db.open;
  }

  prepare(sql: string): Statement {
    return new Statement(this.db.prepare(sql) as NativeStatement, sql);
  }

  /** Runs one or more statements, none returning rows. */
  exec(sql: string): this {
    this.db.exec(sql);
    return this;
  }

  /** PRAGMA source: every row, or with simple the first row's first column. */
  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const st = this.prepare(`PRAGMA ${source}`);
    if (!st.reader) {
      // Setting one that answers nothing (foreign_keys = ON).
      st.run();
      return options.simple ? undefined : [];
    }
    return options.simple ? st.pluck().get() : st.all();
  }

  /**
   * A function that runs fn in a transaction: committed when fn returns,
   * rolled back when it throws. Called inside another transaction it runs in
   * a savepoint of it (the begin mode then does not apply), so stores that
   * each use transactions compose.
   */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): Transaction<A, R> {
    const tx = this.tx;
    const wrap =
      (mode: BeginMode) =>
      (...args: A): R => {
        const nested = this.db.inTransaction;
        (nested ? tx.savepoint : tx[mode]).run();
        try {
          const result = fn(...args);
          if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
            throw new TypeError('Transaction function cannot return a promise');
          }
          (nested ? tx.release : tx.commit).run();
          return result;
        } catch (err) {
          // SQLite may have rolled back already (e.g. after SQLITE_FULL or a failed COMMIT): then there is nothing to undo.
          if (this.db.inTransaction) {
            if (nested) {
              tx.rollbackTo.run();
              tx.release.run();
            } else {
              tx.rollback.run();
            }
          }
          throw err;
        }
      };
    const deferred = wrap('deferred');
    return Object.assign(deferred, { default: deferred, deferred, immediate: wrap('immediate'), exclusive: wrap('exclusive') });
  }

  close(): void {
    this.db.close();
  }
}
