// Migrations and the registry on real SQLite: in memory, and in a file for WAL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { migrate, openDatabase, schemaVersion } from '../../daemon/db/database';
import { migrations } from '../../daemon/db/migrations';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { ModelStore } from '../../daemon/db/models';

test('a new database gets every migration, recorded once', () => {
  const db = openDatabase(':memory:');
  const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as { version: number; name: string }[];
  assert.deepEqual(rows.map((r) => r.version), migrations.map((m) => m.version));
  assert.equal(schemaVersion(db), migrations.at(-1)!.version);
  assert.deepEqual(migrate(db, migrations), [], 'a second run applies nothing');
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  assert.deepEqual(tables, ['alias_history', 'clusters', 'gate_results', 'job_tasks', 'jobs', 'model_aliases', 'model_versions', 'models', 'runtime_ingest', 'runtime_jobs', 'schema_migrations', 'sqlite_sequence']);
  db.close();
});

test('a failing migration leaves nothing behind: its transaction rolls back', () => {
  const db = openDatabase(':memory:');
  const broken = [...migrations, { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);' }];
  assert.throws(() => migrate(db, broken), /no such table: no_such_table/);
  assert.equal(schemaVersion(db), migrations.at(-1)!.version);
  assert.deepEqual(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half_done'").get(), { n: 0 });
  db.close();
});

test('a database from a newer slurm-ml is refused, not downgraded', () => {
  const db = openDatabase(':memory:');
  db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (1000, ?, ?)').run('future', new Date().toISOString());
  assert.throws(() => migrate(db, migrations), /schema version 1000, newer than this slurm-ml knows/);
  db.close();
});

test('a file database runs in WAL mode with foreign keys enforced', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-db-'));
  try {
    const db = openDatabase(path.join(dir, 'registry.db'));
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL: no fsync per commit in WAL mode, as with better-sqlite3');
    assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    const jobs = new JobStore(db);
    assert.throws(
      () => jobs.create({ clusterId: '00000000-0000-4000-8000-000000000000', name: 'orphan', script: 'x', scriptPath: '/x', runDir: '/', sbatchArgs: [] }),
      /FOREIGN KEY constraint failed/,
    );
    db.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('records use UUID primary keys; job updates report only real changes', () => {
  const db = openDatabase(':memory:');
  const clusters = new ClusterStore(db);
  const jobs = new JobStore(db);
  const c = clusters.add({ name: 'c', host: 'h', port: 22, user: 'u', identityFile: '/k', knownHostsFile: '/kh' });
  assert.match(c.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const j = jobs.create({ clusterId: c.id, name: "it's; $(x)", script: '#!/bin/sh\n', scriptPath: '/r/s.sh', runDir: '/r', sbatchArgs: ['--time=1'] });
  assert.equal(j.state, 'SUBMITTING');
  assert.equal(j.terminal, false);
  assert.equal(j.name, "it's; $(x)");
  assert.ok(jobs.update(j.id, { state: 'RUNNING', slurmJobId: '5' }));
  assert.equal(jobs.update(j.id, { state: 'RUNNING', slurmJobId: '5' }), undefined);
  const done = jobs.update(j.id, { state: 'FAILED', exitCode: 3, exitSignal: 0 })!;
  assert.equal(done.terminal, true);
  assert.equal(done.exitCode, 3);
  assert.deepEqual(jobs.active(), []);
  assert.deepEqual(jobs.resolve(j.id).sbatchArgs, ['--time=1']);
  db.close();
});

test('migrating a populated database keeps its clusters and jobs, references intact', () => {
  const db = openDatabase(':memory:', migrations.slice(0, 1));
  db.prepare(`INSERT INTO clusters (id, name, host, port, user, identity_file, known_hosts_file, created_at)
              VALUES ('c1', 'old', 'login.example', 22, 'alice', '/k', '/kh', '2026-01-01T00:00:00Z')`).run();
  db.prepare(`INSERT INTO jobs (id, cluster_id, slurm_job_id, name, state, script, script_path, run_dir, created_at, updated_at)
              VALUES ('j1', 'c1', '42', 'train', 'COMPLETED', '#!/bin/sh', '/r/s.sh', '/r', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`).run();
  assert.deepEqual(migrate(db, migrations), migrations.slice(1).map((m) => m.version));
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are back on');
  assert.deepEqual(db.pragma('foreign_key_check'), []);
  const jobs = new JobStore(db);
  const j = jobs.resolve('old:42');
  assert.equal(j.cluster, 'old');
  assert.equal(j.progress, null);
  assert.equal(j.array, null);
  assert.equal(new ClusterStore(db).get('old').host, 'login.example');
  db.close();
});

test('migration 5 keeps registered versions and lets the daemon register versions without a training job', () => {
  const db = openDatabase(':memory:', migrations.filter((m) => m.version <= 4));
  db.prepare(`INSERT INTO clusters (id, name, host, port, user, identity_file, known_hosts_file, created_at) VALUES ('c1', 'hpc', 'h', 22, 'u', '/k', '/kh', 't')`).run();
  db.prepare(`INSERT INTO jobs (id, cluster_id, slurm_job_id, name, state, script, script_path, run_dir, created_at, updated_at, kind)
              VALUES ('j1', 'c1', '7', 'train', 'COMPLETED', 's', '/s', '/r', 't', 't', 'train')`).run();
  db.prepare(`INSERT INTO models (id, name, created_at) VALUES ('m1', 'digits', 't')`).run();
  db.prepare(`INSERT INTO model_versions (id, model_id, version, cluster_id, artifact_path, training_job_id, created_at)
              VALUES ('v1', 'm1', 1, 'c1', '/r/artifacts', 'j1', 't')`).run();
  migrate(db, migrations);
  assert.deepEqual(db.pragma('foreign_key_check'), []);
  const models = new ModelStore(db);
  assert.equal(models.resolve('digits@v1').trainingJob, 'j1');
  const own = models.registerVersion({ model: 'runtime-hpc', clusterId: 'c1', artifactPath: '/state/runtime/hpc/v1', artifacts: [], metrics: { mae: 1 }, trainingJobId: null, gitCommit: null, tags: {} });
  assert.equal(own.trainingJob, null);
  assert.equal(models.registerVersion({ model: 'runtime-hpc', clusterId: 'c1', artifactPath: '/x', artifacts: [], metrics: {}, trainingJobId: null, gitCommit: null, tags: {} }).version, 2);
  db.close();
});
