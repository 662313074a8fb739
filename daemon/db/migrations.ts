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
];
