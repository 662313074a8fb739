// Registry-shaped SQLite work through the daemon's binding (daemon/db/sqlite.ts,
// libsql), beside node:sqlite (built into Node ≥ 22.5) and better-sqlite3 when
// it is installed: the figures behind docs/sqlite.md.
//
//   node --import tsx test/bench/sqliteBinding.ts [--rows=100000] [--json]
//
// Each binding gets a fresh WAL file database with the daemon's pragmas and
// the same work: N inserts in one transaction, 1,000 single-row transactions
// (each a commit, as a poll cycle's), N point reads by primary key (get), one
// read of all N rows (all). Medians of 3 runs.
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Database as DaemonDb } from '../../daemon/db/sqlite';

const args = new Map(process.argv.slice(2).map((a): [string, string | undefined] => { const [k, v] = a.replace(/^--/, '').split('='); return [k!, v]; }));
const N = Number(args.get('rows') ?? 100_000);
const TX = 1000;
const RUNS = 3;

/** The few calls the benchmark makes, over each binding's own API. */
interface Subject {
  name: string;
  version: string;
  open(file: string): {
    exec(sql: string): void;
    insert(id: number, name: string, state: string, runtime: number): void;
    get(id: number): unknown;
    all(): unknown[];
    close(): void;
  };
}

const schema = `CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, runtime REAL, created_at TEXT NOT NULL)`;
// The daemon's (daemon/db/database.ts): better-sqlite3 was built with synchronous NORMAL in WAL mode, libsql and node:sqlite are given it.
const pragmas = ['journal_mode = WAL', 'synchronous = NORMAL', 'cache_size = -16000', 'foreign_keys = ON', 'busy_timeout = 5000'];
const insertSql = 'INSERT INTO jobs (id, name, state, runtime, created_at) VALUES (?, ?, ?, ?, ?)';
const now = new Date().toISOString();

const subjects: Subject[] = [];
const req = createRequire(__filename);
const versionOf = (pkg: string): string => {
  // The package's own package.json: next to its main file or above it (libsql does not export the file).
  for (let dir = path.dirname(req.resolve(pkg)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const f = path.join(dir, 'package.json');
    if (fs.existsSync(f)) {
      const p = JSON.parse(fs.readFileSync(f, 'utf8')) as { name?: string; version: string };
      if (p.name === pkg) return p.version;
    }
  }
  return '?';
};
const libsqlVersion = versionOf('libsql');

subjects.push({
  name: 'libsql (daemon/db/sqlite.ts)',
  version: libsqlVersion,
  open(file) {
    const db = new DaemonDb(file);
    for (const p of pragmas) db.pragma(p);
    db.exec(schema);
    const ins = db.prepare(insertSql);
    const get = db.prepare('SELECT * FROM jobs WHERE id = ?');
    const all = db.prepare('SELECT * FROM jobs');
    return {
      exec: (sql) => db.exec(sql),
      insert: (id, name, state, runtime) => ins.run(id, name, state, runtime, now),
      get: (id) => get.get(id),
      all: () => all.all(),
      close: () => db.close(),
    };
  },
});

try {
  // @types/node 20 has no node:sqlite: the little used here, typed by hand.
  const { DatabaseSync } = req('node:sqlite') as {
    DatabaseSync: new (file: string) => {
      exec(sql: string): void;
      prepare(sql: string): { run(...a: unknown[]): unknown; get(...a: unknown[]): unknown; all(...a: unknown[]): unknown[] };
      close(): void;
    };
  };
  subjects.push({
    name: 'node:sqlite',
    version: process.versions.sqlite ?? process.version,
    open(file) {
      const db = new DatabaseSync(file);
      for (const p of pragmas) db.exec(`PRAGMA ${p}`);
      db.exec(schema);
      const ins = db.prepare(insertSql);
      const get = db.prepare('SELECT * FROM jobs WHERE id = ?');
      const all = db.prepare('SELECT * FROM jobs');
      return {
        exec: (sql) => db.exec(sql),
        insert: (id, name, state, runtime) => ins.run(id, name, state, runtime, now),
        get: (id) => get.get(id),
        all: () => all.all(),
        close: () => db.close(),
      };
    },
  });
} catch (err) {
  console.error(`node:sqlite: not available on ${process.version} (${(err as Error).message})`);
}

try {
  const Bs3 = req('better-sqlite3') as new (file: string) => {
    pragma(s: string): unknown;
    exec(s: string): void;
    prepare(s: string): { run(...a: unknown[]): unknown; get(...a: unknown[]): unknown; all(...a: unknown[]): unknown[] };
    close(): void;
  };
  subjects.push({
    name: 'better-sqlite3',
    version: versionOf('better-sqlite3'),
    open(file) {
      const db = new Bs3(file);
      for (const p of pragmas) db.pragma(p);
      db.exec(schema);
      const ins = db.prepare(insertSql);
      const get = db.prepare('SELECT * FROM jobs WHERE id = ?');
      const all = db.prepare('SELECT * FROM jobs');
      return {
        exec: (sql) => db.exec(sql),
        insert: (id, name, state, runtime) => ins.run(id, name, state, runtime, now),
        get: (id) => get.get(id),
        all: () => all.all(),
        close: () => db.close(),
      };
    },
  });
} catch {
  console.error('better-sqlite3: not installed (the registry no longer uses it), left out');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = (f: () => void) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

interface Figures {
  binding: string;
  version: string;
  insertTxMs: number;
  singleTxMs: number;
  getMs: number;
  allMs: number;
}

const results: Figures[] = [];
for (const s of subjects) {
  const runs: Omit<Figures, 'binding' | 'version'>[] = [];
  for (let r = 0; r < RUNS; r++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-sqlite-bench-'));
    try {
      const db = s.open(path.join(dir, 'bench.db'));
      const insertTxMs = time(() => {
        db.exec('BEGIN');
        for (let i = 1; i <= N; i++) db.insert(i, `job-${i}`, i % 7 === 0 ? 'FAILED' : 'COMPLETED', i * 1.5);
        db.exec('COMMIT');
      });
      const singleTxMs = time(() => {
        for (let i = N + 1; i <= N + TX; i++) {
          db.exec('BEGIN');
          db.insert(i, `job-${i}`, 'RUNNING', 0);
          db.exec('COMMIT');
        }
      });
      let seen = 0;
      const getMs = time(() => {
        for (let i = 1; i <= N; i++) if (db.get(((i * 7919) % N) + 1)) seen++;
      });
      if (seen !== N) throw new Error(`${s.name}: ${seen} of ${N} point reads found their row`);
      let rows = 0;
      const allMs = time(() => {
        rows = db.all().length;
      });
      if (rows !== N + TX) throw new Error(`${s.name}: all() returned ${rows} rows, expected ${N + TX}`);
      db.close();
      runs.push({ insertTxMs, singleTxMs, getMs, allMs });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  results.push({
    binding: s.name,
    version: s.version,
    insertTxMs: median(runs.map((x) => x.insertTxMs)),
    singleTxMs: median(runs.map((x) => x.singleTxMs)),
    getMs: median(runs.map((x) => x.getMs)),
    allMs: median(runs.map((x) => x.allMs)),
  });
}

const k = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')}/s`;
if (args.has('json')) {
  console.log(JSON.stringify({ node: process.version, cpus: os.cpus().length, rows: N, singleTransactions: TX, results }));
} else {
  console.log(`SQLite bindings on Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}; WAL file, ${N.toLocaleString('en-US')} rows, medians of ${RUNS}`);
  console.log('| binding | version | inserts, one transaction | 1,000 one-row transactions | point reads (get) | read all rows (all) |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.binding} | ${r.version} | ${r.insertTxMs.toFixed(0)} ms (${k(N, r.insertTxMs)}) | ${r.singleTxMs.toFixed(0)} ms (${k(TX, r.singleTxMs)}) | ${r.getMs.toFixed(0)} ms (${k(N, r.getMs)}) | ${r.allMs.toFixed(0)} ms (${k(N + TX, r.allMs)}) |`,
    );
  }
}
