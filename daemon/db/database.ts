// Opens the registry: WAL, foreign keys, and pending migrations applied each
// in its own transaction.
import * as fs from 'node:fs';
import { Database, type Statement } from './sqlite';
import { migrations as allMigrations, type Migration } from './migrations';

export type Db = Database;

/** wal: the default; delete: SQLite's rollback journal, for a registry on a network filesystem (filesystem.ts). */
export type JournalMode = 'wal' | 'delete';

export function openDatabase(file: string, migrations: readonly Migration[] = allMigrations, opts: { journalMode?: JournalMode } = {}): Db {
  const db = new Database(file);
  try {
    // First: every later statement may have to wait for another connection's lock (sqlite.ts sets it too).
    db.pragma('busy_timeout = 5000');
    const wal = opts.journalMode !== 'delete';
    if (file !== ':memory:') db.pragma(`journal_mode = ${wal ? 'WAL' : 'DELETE'}`);
    // What better-sqlite3 was built with (DEFAULT_WAL_SYNCHRONOUS=1, a 16 MB
    // cache), so the registry behaves as before the move to libsql: in WAL
    // mode NORMAL loses no committed transaction when the daemon dies, only
    // the last ones when the machine does, and spares a commit its fsync
    // (0.04 ms instead of 2.4 ms here; docs/sqlite.md). With the rollback
    // journal (a network filesystem) NORMAL could corrupt the file on a power
    // loss: FULL there, SQLite's default.
    db.pragma(`synchronous = ${wal ? 'NORMAL' : 'FULL'}`);
    db.pragma('cache_size = -16000');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function migrate(db: Db, migrations: readonly Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  );
  const newest = Math.max(0, ...applied);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  if (newest > known) {
    throw new Error(`the registry database has schema version ${newest}, newer than this slurm-ml knows (${known}); upgrade slurm-ml`);
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const ran: number[] = [];
  const fkWasOn = db.pragma('foreign_keys', { simple: true }) === 1;
  // SQLite's way to rebuild a table that others reference: foreign keys off
  // during the change (the pragma is a no-op inside a transaction), checked
  // before the commit.
  db.pragma('foreign_keys = OFF');
  try {
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      db.transaction(() => {
        db.exec(m.sql);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) throw new Error(`migration ${m.version} (${m.name}) breaks ${broken.length} foreign key(s)`);
        record.run(m.version, m.name, new Date().toISOString());
      })();
      ran.push(m.version);
    }
  } finally {
    if (fkWasOn) db.pragma('foreign_keys = ON');
  }
  return ran;
}

const schemaVersionStmts = new WeakMap<Db, Statement>();
export function schemaVersion(db: Db): number {
  // Asked on every health call: prepared once per database, not per call.
  let st = schemaVersionStmts.get(db);
  if (!st) schemaVersionStmts.set(db, (st = db.prepare('SELECT MAX(version) AS v FROM schema_migrations')));
  const row = st.get() as { v: number | null };
  return row.v ?? 0;
}

/** Bytes the registry takes on disk: the database file and its write-ahead log (pages, for an in-memory one). */
export function databaseSizeBytes(db: Db, file: string): number {
  if (file === ':memory:' || file === '') {
    return Number(db.pragma('page_count', { simple: true })) * Number(db.pragma('page_size', { simple: true }));
  }
  let total = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      total += fs.statSync(f).size;
    } catch {
      // no write-ahead log right now
    }
  }
  return total;
}
