// A registry file written by an earlier slurm-ml (better-sqlite3 12.11.1,
// SQLite 3.53.2, WAL mode, every migration; test/fixtures/registry/make.ts)
// opens with today's binding: the same rows in every table, the stores read
// them as the daemon did, and the daemon can go on writing to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { migrate, openDatabase, schemaVersion, type Db } from '../../daemon/db/database';
import { migrations } from '../../daemon/db/migrations';
import { ModelStore } from '../../daemon/db/models';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { RuntimeStore } from '../../daemon/runtime/store';

const fixtureDir = path.resolve(__dirname, '../fixtures/registry');
const written = JSON.parse(fs.readFileSync(path.join(fixtureDir, 'registry-v8.rows.json'), 'utf8')) as {
  writtenBy: string;
  tables: Record<string, Record<string, unknown>[]>;
};

/** A copy of the fixture: opening a registry writes to it (WAL files, later rows). */
function withCopy(f: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-registry-file-'));
  try {
    const file = path.join(dir, 'registry.db');
    fs.copyFileSync(path.join(fixtureDir, 'registry-v8.db'), file);
    f(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function tableRows(db: Db, table: string): unknown[] {
  const n = (db.prepare(`SELECT count(*) AS n FROM pragma_table_info('${table}')`).get() as { n: number }).n;
  return db.prepare(`SELECT * FROM "${table}" ORDER BY ${Array.from({ length: n }, (_, i) => i + 1).join(', ')}`).all();
}

/** The values the migrations after version 8 give the fixture's rows (the columns they add, with their defaults). */
const ADDED_SINCE_V8: Record<string, Record<string, unknown>> = {
  clusters: { kind: 'ssh' }, // 9: local clusters
};

test(`a registry written by ${written.writtenBy} opens: its own migrations are all there, newer ones apply, intact, WAL`, () => {
  withCopy((file) => {
    const own = migrations.filter((m) => m.version <= 8);
    const asWritten = openDatabase(file, own);
    try {
      assert.equal(schemaVersion(asWritten), 8);
      assert.deepEqual(migrate(asWritten, own), [], 'every migration of its day was already applied');
    } finally {
      asWritten.close();
    }
    const db = openDatabase(file);
    try {
      assert.equal(schemaVersion(db), Math.max(...migrations.map((m) => m.version)));
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(db.pragma('foreign_key_check'), []);
    } finally {
      db.close();
    }
  });
});

test('every table of the old registry reads back row for row, value for value', () => {
  withCopy((file) => {
    const db = openDatabase(file);
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      assert.deepEqual(tables, Object.keys(written.tables).sort());
      for (const t of tables) {
        assert.ok(written.tables[t].length > 0, `the fixture has rows in ${t}`);
        // schema_migrations gains the newer migrations' rows; every other table keeps exactly its rows.
        const rows = t === 'schema_migrations' ? tableRows(db, t).filter((r) => (r as { version: number }).version <= 8) : tableRows(db, t);
        assert.deepEqual(rows, written.tables[t].map((r) => ({ ...r, ...ADDED_SINCE_V8[t] })), `table ${t}`);
      }
    } finally {
      db.close();
    }
  });
});

test("the daemon's stores read the old registry as the daemon that wrote it did", () => {
  withCopy((file) => {
    const db = openDatabase(file);
    try {
      const clusters = new ClusterStore(db);
      assert.deepEqual(clusters.list().map((c) => c.name), ['hpc', 'lab'], 'the removed cluster stays removed');
      assert.equal(clusters.get('hpc').port, 2222);
      assert.equal(clusters.get('lab').sshAlias, 'lab-login');

      const jobs = new JobStore(db);
      const plain = jobs.resolve('hpc:4294967301');
      assert.equal(plain.name, "résumé's $(x); ✓");
      assert.equal(plain.script, '#!/bin/bash\n#SBATCH --time=10\necho héllo\n');
      assert.equal(plain.state, 'COMPLETED');
      assert.equal(plain.progress, 87.5);
      assert.deepEqual(plain.estimate, { p10: 30.5, p50: 61, p90: 120.25, source: 'history', modelVersion: null });
      assert.equal(plain.requested.timeLimitSeconds, 600);
      assert.deepEqual(plain.sbatchArgs, ['--time=10', '--mem=2G']);

      const array = jobs.resolve('lab:77');
      assert.deepEqual(array.array, { total: 4, byState: { COMPLETED: 1, FAILED: 1, RUNNING: 1, PENDING: 1 }, done: false });
      assert.deepEqual(jobs.tasks(array.id, 0, 10).tasks.map((t) => [t.taskId, t.state, t.exitCode]), [
        [0, 'COMPLETED', 0],
        [1, 'FAILED', 3],
        [2, 'RUNNING', null],
        [3, 'PENDING', null],
      ]);
      const repeat = jobs.resolve('hpc:82');
      assert.equal(repeat.resubmittedFrom, jobs.resolve('hpc:81').id);
      assert.deepEqual(jobs.active().map((j) => j.slurmJobId).sort(), ['77', '82']);

      const models = new ModelStore(db);
      assert.equal(models.resolve('digits@prod').version, 1, 'prod was rolled back to v1');
      const v2 = models.resolve('digits@v2');
      assert.deepEqual(v2.metrics, { accuracy: 0.935, latency_p95_ms: 11.25 });
      assert.deepEqual(models.history('digits').map((m) => [m.action, m.who]), [
        ['rollback', 'bob'],
        ['promote', 'alice'],
        ['promote', 'alice'],
      ]);
      assert.deepEqual(models.rules('digits'), [{ metric: 'accuracy', direction: 'higher', tolerance: 0.01, mode: 'absolute' }]);

      const runtime = new RuntimeStore(db);
      const hpc = clusters.get('hpc').id;
      assert.deepEqual(runtime.jobs(hpc).map((j) => [j.id, j.runtime, j.memMB]), [
        ['1001', 3600, 16384],
        ['1002_3', 60, null],
      ]);
      assert.deepEqual(runtime.ingestState(hpc), { watermark: 1764503610, lastRunAt: '2026-11-30T15:00:00.000Z', jobs: 2 });
    } finally {
      db.close();
    }
  });
});

test('the old registry takes new rows and keeps them across a reopen', () => {
  withCopy((file) => {
    let db = openDatabase(file);
    const hpc = new ClusterStore(db).get('hpc');
    const j = new JobStore(db).create({ clusterId: hpc.id, name: 'after the move', script: '#!/bin/sh\n', scriptPath: '/r/z/s.sh', runDir: '/r/z', sbatchArgs: [] });
    new JobStore(db).update(j.id, { slurmJobId: '100', state: 'RUNNING' });
    const v3 = new ModelStore(db).registerVersion({ model: 'digits', clusterId: hpc.id, artifactPath: '/a', artifacts: [], metrics: { accuracy: 0.95 }, trainingJobId: null, gitCommit: null, tags: {} });
    assert.equal(v3.version, 3);
    db.close();
    db = openDatabase(file);
    try {
      assert.equal(new JobStore(db).resolve('hpc:100').name, 'after the move');
      assert.equal(new ModelStore(db).resolve('digits@v3').metrics.accuracy, 0.95);
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
  });
});
