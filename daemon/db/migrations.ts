// Numbered schema migrations. Each runs once, inside a transaction, in order;
// the applied ones are recorded in schema_migrations. Never edit a released
// migration: add the next number.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'clusters and jobs',
    sql: `
      CREATE TABLE clusters (
        id               TEXT PRIMARY KEY,           -- uuid
        name             TEXT NOT NULL,
        host             TEXT NOT NULL,
        port             INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        user             TEXT NOT NULL,
        identity_file    TEXT NOT NULL,
        known_hosts_file TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        removed_at       TEXT                        -- removed clusters stay for their jobs' records
      );
      CREATE UNIQUE INDEX clusters_by_name ON clusters(name) WHERE removed_at IS NULL;

      CREATE TABLE jobs (
        id              TEXT PRIMARY KEY,            -- uuid
        cluster_id      TEXT NOT NULL REFERENCES clusters(id) ON DELETE RESTRICT,
        slurm_job_id    TEXT,                        -- null until sbatch answered
        name            TEXT NOT NULL,
        state           TEXT NOT NULL,
        reason          TEXT,
        submit_time     TEXT,
        start_time      TEXT,
        end_time        TEXT,
        exit_code       INTEGER,
        exit_signal     INTEGER,
        script          TEXT NOT NULL,
        script_path     TEXT NOT NULL,
        run_dir         TEXT NOT NULL,
        sbatch_args     TEXT NOT NULL DEFAULT '[]',   -- JSON array
        requested       TEXT NOT NULL DEFAULT '{}',   -- JSON RequestedResources
        stdout_path     TEXT,
        stderr_path     TEXT,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        UNIQUE (cluster_id, slurm_job_id)
      );
      CREATE INDEX jobs_by_state ON jobs(state);
      CREATE INDEX jobs_by_created ON jobs(created_at);
    `,
  },
  {
    version: 2,
    name: 'ssh config aliases, job arrays, progress, resubmits',
    // Rebuilds clusters to relax NOT NULL (an alias may supply host, user and key);
    // migrate() runs with foreign keys off and checks them before committing.
    sql: `
      CREATE TABLE clusters_new (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        ssh_alias        TEXT,
        host             TEXT,
        port             INTEGER CHECK (port IS NULL OR port BETWEEN 1 AND 65535),
        user             TEXT,
        identity_file    TEXT,
        known_hosts_file TEXT NOT NULL,
        ssh_config_file  TEXT,
        created_at       TEXT NOT NULL,
        removed_at       TEXT,
        CHECK (ssh_alias IS NOT NULL OR host IS NOT NULL)
      );
      INSERT INTO clusters_new (id, name, host, port, user, identity_file, known_hosts_file, created_at, removed_at)
        SELECT id, name, host, port, user, identity_file, known_hosts_file, created_at, removed_at FROM clusters;
      DROP TABLE clusters;
      ALTER TABLE clusters_new RENAME TO clusters;
      CREATE UNIQUE INDEX clusters_by_name ON clusters(name) WHERE removed_at IS NULL;

      ALTER TABLE jobs ADD COLUMN progress REAL;
      ALTER TABLE jobs ADD COLUMN resubmitted_from TEXT REFERENCES jobs(id);
      -- The array's index expression as submitted (e.g. 1-1000%10); null for a plain job.
      ALTER TABLE jobs ADD COLUMN array_spec TEXT;
      ALTER TABLE jobs ADD COLUMN array_total INTEGER;
      -- Consecutive polls in which squeue did not list the job: one miss proves nothing.
      ALTER TABLE jobs ADD COLUMN poll_misses INTEGER NOT NULL DEFAULT 0;

      CREATE TABLE job_tasks (
        job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        task_id      INTEGER NOT NULL,
        slurm_job_id TEXT,
        state        TEXT NOT NULL,
        reason       TEXT,
        start_time   TEXT,
        end_time     TEXT,
        exit_code    INTEGER,
        exit_signal  INTEGER,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (job_id, task_id)
      ) WITHOUT ROWID;
    `,
  },
];
