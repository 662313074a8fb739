// The SQLite binding (daemon/db/sqlite.ts) behaves as better-sqlite3 did where
// the registry relies on it, on real libsql databases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Database, hasAnonymousParameter } from '../../daemon/db/sqlite';
import { openDatabase, schemaVersion } from '../../daemon/db/database';

function memory(): Database {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b REAL)');
  return db;
}

test('rows are plain column objects: no extra fields from the binding', () => {
  const db = memory();
  db.prepare('INSERT INTO t (a, b) VALUES (?, ?)').run('x', 1.5);
  assert.deepEqual(db.prepare('SELECT * FROM t').get(), { id: 1, a: 'x', b: 1.5 });
  assert.deepEqual(Object.keys(db.prepare('SELECT * FROM t WHERE id = ?').get(1) as object), ['id', 'a', 'b']);
  assert.deepEqual(db.prepare('SELECT * FROM t').all(), [{ id: 1, a: 'x', b: 1.5 }]);
  assert.deepEqual([...db.prepare('SELECT a FROM t').iterate()], [{ a: 'x' }]);
  assert.equal(JSON.stringify(db.prepare('SELECT a FROM t').get()), '{"a":"x"}', 'what a handler would send to a client');
  assert.equal(db.prepare('SELECT * FROM t WHERE id = 2').get(), undefined);
  assert.throws(() => db.prepare('DELETE FROM t WHERE id = 2').get(), /does not return data/);

  // A statement prepared before a migration added a column sees it afterwards, as SQLite re-prepares it.
  const star = db.prepare('SELECT * FROM t');
  assert.deepEqual(star.get(), { id: 1, a: 'x', b: 1.5 });
  db.exec("ALTER TABLE t ADD COLUMN c TEXT DEFAULT 'new'");
  assert.deepEqual(star.get(), { id: 1, a: 'x', b: 1.5, c: 'new' });
  assert.deepEqual(star.all(), [{ id: 1, a: 'x', b: 1.5, c: 'new' }]);

  // Column names are data, not code: quotes, and __proto__ as an own property.
  const odd = db.prepare(`SELECT 1 AS "it's ""odd""", 2 AS __proto__, 3 AS "a\nb"`).get() as Record<string, unknown>;
  assert.deepEqual(Object.entries(odd), [[`it's "odd"`, 1], ['__proto__', 2], ['a\nb', 3]]);
  assert.equal(Object.getPrototypeOf(odd), Object.prototype);
  db.close();
});

test('pragma: every row, or the first value with simple', () => {
  const db = memory();
  db.pragma('foreign_keys = OFF');
  assert.equal(db.pragma('foreign_keys', { simple: true }), 0);
  db.pragma('foreign_keys = ON');
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  assert.deepEqual((db.pragma('table_info(t)') as { name: string }[]).map((c) => c.name), ['id', 'a', 'b']);
  assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 0);
  db.close();
});

test('binding: positional, arrays, one named object, a lone null; what cannot be bound is refused', () => {
  const db = memory();
  assert.deepEqual(db.prepare('SELECT ? AS v').get(null), { v: null });
  assert.deepEqual(db.prepare('SELECT ? AS v').get(undefined), { v: null });
  assert.deepEqual(db.prepare('SELECT ? AS a, ? AS b').get([1, 'two']), { a: 1, b: 'two' });
  assert.deepEqual(db.prepare('SELECT ? AS a, ? AS b, ? AS c').get(1, [2, 3]), { a: 1, b: 2, c: 3 });
  assert.deepEqual(db.prepare('SELECT @x AS x, :y AS y, $z AS z').get({ x: 1, y: 'y', z: null }), { x: 1, y: 'y', z: null });
  assert.deepEqual(db.prepare('SELECT ? AS v').get(Buffer.from([1, 2])), { v: Buffer.from([1, 2]) });
  assert.throws(() => db.prepare('SELECT ? AS v').get({}, 1), /named parameters must be the only argument/);
  assert.throws(() => db.prepare('SELECT ? AS v').get(new Date()), /can only bind/);
  const r = db.prepare('INSERT INTO t (a) VALUES (?)').run('z');
  assert.deepEqual(r, { changes: 1, lastInsertRowid: 1 });
  db.close();
});

test('what aborts libsql is an error the caller can catch: a boolean, names for a bare ?', () => {
  // libsql 0.5.29 panics on these and aborts the whole process: the daemon would die with every client.
  // In a child process, so that a regression shows as a failed test rather than a dead test runner.
  const sqlite = JSON.stringify(path.resolve(__dirname, '../../daemon/db/sqlite.ts'));
  const attempts = [
    "db.prepare('SELECT ? AS v').get(true)",
    "db.prepare('SELECT @x AS v').run({ x: false })",
    "db.prepare('SELECT @x AS v, ? AS w').get({ x: 2 })",
    "db.prepare('SELECT ? AS v').all({ v: 1 })",
  ];
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', '-e', `const { Database } = require(${sqlite}); const db = new Database(':memory:'); for (const f of [${attempts.map((a) => `() => ${a}`).join(', ')}]) { try { f(); console.log('no error'); } catch (e) { console.log(e.constructor.name); } }`],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  assert.deepEqual(out.trim().split('\n'), attempts.map(() => 'TypeError'));
});

test('bare ? parameters are found outside strings, quoted names and comments', () => {
  assert.equal(hasAnonymousParameter('SELECT * FROM t WHERE id = ?'), true);
  assert.equal(hasAnonymousParameter('SELECT * FROM t WHERE id = @id'), false);
  assert.equal(hasAnonymousParameter('SELECT ?1, ?2'), false);
  assert.equal(hasAnonymousParameter("SELECT 'what?', \"col?\", `x?`, [y?] -- why?\n/* ? */ FROM t WHERE a = :a"), false);
  assert.equal(hasAnonymousParameter("SELECT 'it''s?' WHERE a = ?"), true);
  assert.equal(hasAnonymousParameter('SELECT 1 /* unterminated ?'), false);
});

test('transactions commit, roll back on a throw, and nest as savepoints', () => {
  const db = memory();
  const insert = db.prepare('INSERT INTO t (a) VALUES (?)');
  const names = () => (db.prepare('SELECT a FROM t ORDER BY id').all() as { a: string }[]).map((r) => r.a);
  assert.equal(db.transaction((a: string) => insert.run(a).changes)('one'), 1);
  assert.throws(() => db.transaction(() => {
    insert.run('lost');
    throw new Error('boom');
  })(), /boom/);
  assert.deepEqual(names(), ['one']);
  assert.equal(db.inTransaction, false);

  // An inner failure undoes only the inner part; the outer one goes on and commits.
  db.transaction(() => {
    insert.run('outer');
    assert.throws(() => db.transaction(() => {
      insert.run('inner');
      throw new Error('inner fails');
    })(), /inner fails/);
    assert.equal(db.inTransaction, true, 'still in the outer transaction');
    db.transaction(() => insert.run('inner kept'))();
  })();
  assert.deepEqual(names(), ['one', 'outer', 'inner kept']);

  // An outer failure undoes its committed inner parts too.
  assert.throws(() => db.transaction(() => {
    db.transaction(() => insert.run('gone'))();
    throw new Error('outer fails');
  })(), /outer fails/);
  assert.deepEqual(names(), ['one', 'outer', 'inner kept']);

  assert.equal(db.transaction(() => insert.run('immediate').changes).immediate(), 1);
  assert.equal(db.transaction(() => insert.run('exclusive').changes).exclusive(), 1);
  assert.throws(() => db.transaction(async () => 1)(), /cannot return a promise/);

  // SQLite itself ended the transaction (OR ROLLBACK): the caller sees the real error, not "no transaction is active".
  assert.throws(() => db.transaction(() => {
    insert.run('rolled back by SQLite');
    db.prepare('INSERT OR ROLLBACK INTO t (id, a) VALUES (1, ?)').run('duplicate');
  })(), /UNIQUE constraint failed/);
  assert.deepEqual(names(), ['one', 'outer', 'inner kept', 'immediate', 'exclusive']);
  assert.equal(db.inTransaction, false);
  db.close();
});

test('a constraint violation inside a transaction rolls it back and keeps its message', () => {
  const db = memory();
  db.exec('CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER NOT NULL REFERENCES t(id))');
  db.pragma('foreign_keys = ON');
  assert.throws(() => db.transaction(() => {
    db.prepare('INSERT INTO t (a) VALUES (?)').run('parent');
    db.prepare('INSERT INTO u (t_id) VALUES (?)').run(99);
  })(), /FOREIGN KEY constraint failed/);
  assert.deepEqual(db.prepare('SELECT count(*) AS n FROM t').get(), { n: 0 });
  db.close();
});

test('two connections to one WAL file: an immediate transaction waits for the other writer (busy_timeout)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-sqlite-'));
  try {
    const file = path.join(dir, 'x.db');
    const a = new Database(file);
    a.pragma('journal_mode = WAL');
    a.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)');
    const b = new Database(file);
    b.pragma('busy_timeout = 200');
    a.exec('BEGIN IMMEDIATE');
    const t0 = Date.now();
    assert.throws(() => b.transaction(() => b.prepare('INSERT INTO t (a) VALUES (?)').run('b')).immediate(), /locked|busy/i);
    assert.ok(Date.now() - t0 >= 150, `waited ${Date.now() - t0} ms for the lock`);
    a.exec('COMMIT');
    b.transaction(() => b.prepare('INSERT INTO t (a) VALUES (?)').run('b')).immediate();
    assert.deepEqual(a.prepare('SELECT a FROM t').all(), [{ a: 'b' }]);
    a.close();
    b.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a connection waits for another one\'s lock, as better-sqlite3 did (5 s), instead of failing with "database is locked"', async () => {
  const { spawn } = await import('node:child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-sqlite-busy-'));
  try {
    const file = path.join(dir, 'registry.db');
    // A registry in rollback-journal mode (as on a network filesystem): opening it in WAL mode needs the file's lock.
    openDatabase(file, undefined, { journalMode: 'delete' }).close();
    // Another process holds the file exclusively for a moment (the previous daemon's last write, a reader).
    const holder = spawn(process.execPath, ['-e', `
      const D = require(${JSON.stringify(require.resolve('libsql'))});
      const db = new D(${JSON.stringify(file)});
      db.exec('BEGIN EXCLUSIVE');
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 700);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const started = Date.now();
    const db = openDatabase(file);
    try {
      assert.ok(Date.now() - started >= 300, 'it waited for the lock');
      assert.equal(schemaVersion(db) > 0, true);
    } finally {
      db.close();
    }
    await new Promise((r) => holder.once('exit', r));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
