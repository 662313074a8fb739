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
  {
    version: 3,
    name: 'model registry, workflow jobs, gates',
    sql: `
      CREATE TABLE models (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        gate_rules  TEXT,                             -- JSON GateRule[]; null: the defaults
        created_at  TEXT NOT NULL
      );

      CREATE TABLE model_versions (
        id              TEXT PRIMARY KEY,
        model_id        TEXT NOT NULL REFERENCES models(id),
        version         INTEGER NOT NULL CHECK (version >= 1),
        cluster_id      TEXT NOT NULL REFERENCES clusters(id),
        artifact_path   TEXT NOT NULL,
        artifacts       TEXT NOT NULL DEFAULT '[]',   -- JSON OutputFile[]
        metrics         TEXT NOT NULL DEFAULT '{}',   -- JSON Metrics (training)
        evaluation      TEXT,                         -- JSON Metrics (latest evaluation)
        training_job_id TEXT NOT NULL UNIQUE REFERENCES jobs(id),
        git_commit      TEXT,
        tags            TEXT NOT NULL DEFAULT '{}',
        note            TEXT,
        created_at      TEXT NOT NULL,
        UNIQUE (model_id, version)
      );

      CREATE TABLE model_aliases (
        model_id    TEXT NOT NULL REFERENCES models(id),
        alias       TEXT NOT NULL,
        version_id  TEXT NOT NULL REFERENCES model_versions(id),
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (model_id, alias)
      ) WITHOUT ROWID;

      -- Every alias move, never edited or deleted.
      CREATE TABLE alias_history (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        model_id        TEXT NOT NULL REFERENCES models(id),
        alias           TEXT NOT NULL,
        from_version_id TEXT REFERENCES model_versions(id),
        to_version_id   TEXT REFERENCES model_versions(id),
        action          TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
        who             TEXT NOT NULL,
        why             TEXT,
        forced          INTEGER NOT NULL DEFAULT 0,
        at              TEXT NOT NULL
      );
      CREATE TRIGGER alias_history_append_only_update BEFORE UPDATE ON alias_history
        BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;
      CREATE TRIGGER alias_history_append_only_delete BEFORE DELETE ON alias_history
        BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;

      CREATE TABLE gate_results (
        id                   TEXT PRIMARY KEY,
        model_id             TEXT NOT NULL REFERENCES models(id),
        candidate_version_id TEXT NOT NULL REFERENCES model_versions(id),
        baseline_version_id  TEXT NOT NULL REFERENCES model_versions(id),
        pass                 INTEGER NOT NULL,
        rules                TEXT NOT NULL,           -- JSON GateRuleResult[]
        at                   TEXT NOT NULL
      );
      CREATE INDEX gate_results_by_candidate ON gate_results(candidate_version_id, at);

      ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'job' CHECK (kind IN ('job', 'train', 'predict', 'evaluate'));
      ALTER TABLE jobs ADD COLUMN template TEXT;
      ALTER TABLE jobs ADD COLUMN template_values TEXT;            -- JSON
      ALTER TABLE jobs ADD COLUMN output_dir TEXT;
      ALTER TABLE jobs ADD COLUMN metrics TEXT;                    -- JSON Metrics
      ALTER TABLE jobs ADD COLUMN outputs TEXT;                    -- JSON OutputFile[]
      ALTER TABLE jobs ADD COLUMN log_tail TEXT;
      -- train: the model it trains (by name; the version exists only once it succeeded)
      ALTER TABLE jobs ADD COLUMN model_name TEXT;
      -- predict/evaluate: the version used
      ALTER TABLE jobs ADD COLUMN model_version_id TEXT REFERENCES model_versions(id);
      -- train: JSON {gitCommit, tags, artifactDir, metricsFile}; predict/evaluate: {input | dataset}
      ALTER TABLE jobs ADD COLUMN workflow TEXT;
      -- a workflow job whose end was handled (version registered, metrics stored): done once
      ALTER TABLE jobs ADD COLUMN finalized_at TEXT;
      CREATE INDEX jobs_by_model_version ON jobs(model_version_id);
    `,
  },
  {
    version: 4,
    name: 'runtime history',
    sql: `
      -- Finished jobs from each cluster's accounting (sacct): what runtime predictions learn from.
      CREATE TABLE runtime_jobs (
        cluster_id     TEXT NOT NULL REFERENCES clusters(id),
        slurm_job_id   TEXT NOT NULL,
        user           TEXT NOT NULL,
        job_name       TEXT NOT NULL,
        submit         INTEGER NOT NULL,            -- epoch seconds
        start          INTEGER NOT NULL,
        end            INTEGER NOT NULL,
        runtime        INTEGER NOT NULL CHECK (runtime > 0),
        requested_time INTEGER,
        cpus           INTEGER NOT NULL,
        nodes          INTEGER,
        mem_mb         INTEGER,
        gpus           INTEGER,
        partition      TEXT,
        qos            TEXT,
        account        TEXT,
        state          TEXT NOT NULL,
        exit_code      INTEGER,
        PRIMARY KEY (cluster_id, slurm_job_id)
      ) WITHOUT ROWID;
      CREATE INDEX runtime_jobs_by_end ON runtime_jobs(cluster_id, end);

      -- How far each cluster's accounting has been read.
      CREATE TABLE runtime_ingest (
        cluster_id  TEXT PRIMARY KEY REFERENCES clusters(id),
        watermark   INTEGER NOT NULL,               -- epoch seconds: jobs that ended before this are in
        last_run_at TEXT NOT NULL,
        jobs        INTEGER NOT NULL DEFAULT 0
      );
    `,
  },
  {
    version: 5,
    name: 'versions trained by the daemon itself',
    // Runtime models are trained in the daemon, not by a SLURM job: a version's
    // training job becomes optional (rebuild: SQLite cannot drop NOT NULL).
    sql: `
      CREATE TABLE model_versions_new (
        id              TEXT PRIMARY KEY,
        model_id        TEXT NOT NULL REFERENCES models(id),
        version         INTEGER NOT NULL CHECK (version >= 1),
        cluster_id      TEXT NOT NULL REFERENCES clusters(id),
        artifact_path   TEXT NOT NULL,
        artifacts       TEXT NOT NULL DEFAULT '[]',
        metrics         TEXT NOT NULL DEFAULT '{}',
        evaluation      TEXT,
        training_job_id TEXT UNIQUE REFERENCES jobs(id),
        git_commit      TEXT,
        tags            TEXT NOT NULL DEFAULT '{}',
        note            TEXT,
        created_at      TEXT NOT NULL,
        UNIQUE (model_id, version)
      );
      INSERT INTO model_versions_new SELECT id, model_id, version, cluster_id, artifact_path, artifacts, metrics, evaluation,
        training_job_id, git_commit, tags, note, created_at FROM model_versions;
      DROP TABLE model_versions;
      ALTER TABLE model_versions_new RENAME TO model_versions;
    `,
  },
  {
    version: 6,
    name: 'experiment-tracking links on versions',
    // The MLflow tracker a training job's template declared and the run id the
    // job reported; all null without a tracker.
    sql: `
      ALTER TABLE model_versions ADD COLUMN mlflow_tracking_uri TEXT;
      ALTER TABLE model_versions ADD COLUMN mlflow_experiment TEXT;
      ALTER TABLE model_versions ADD COLUMN mlflow_run_id TEXT;
    `,
  },
  {
    version: 7,
    name: 'jobs by SLURM id',
    // `job 12345` (CLI, editor) and the poller's lookups by SLURM id scanned
    // every job: 0.6 ms a lookup with 10,000 jobs, the largest cost under load.
    sql: `
      CREATE INDEX jobs_by_slurm_id ON jobs(slurm_job_id);
    `,
  },
  {
    version: 8,
    name: 'runtime estimate at submit',
    // "elapsed of ≈ predicted" compares with what was predicted when the job
    // was submitted, not with what a later model says about its script.
    sql: `
      ALTER TABLE jobs ADD COLUMN estimate TEXT;
    `,
  },
  {
    version: 9,
    name: 'local clusters',
    // A cluster whose SLURM commands run on the daemon's own machine: no SSH
    // settings (known_hosts_file stays '' for it). Rebuilt, as in migration 2,
    // for the CHECK that an ssh cluster names its host or alias.
    sql: `
      CREATE TABLE clusters_new (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        kind             TEXT NOT NULL DEFAULT 'ssh' CHECK (kind IN ('ssh', 'local')),
        ssh_alias        TEXT,
        host             TEXT,
        port             INTEGER CHECK (port IS NULL OR port BETWEEN 1 AND 65535),
        user             TEXT,
        identity_file    TEXT,
        known_hosts_file TEXT NOT NULL,
        ssh_config_file  TEXT,
        created_at       TEXT NOT NULL,
        removed_at       TEXT,
        CHECK (kind = 'local' OR ssh_alias IS NOT NULL OR host IS NOT NULL)
      );
      INSERT INTO clusters_new (id, name, kind, ssh_alias, host, port, user, identity_file, known_hosts_file, ssh_config_file, created_at, removed_at)
        SELECT id, name, 'ssh', ssh_alias, host, port, user, identity_file, known_hosts_file, ssh_config_file, created_at, removed_at FROM clusters;
      DROP TABLE clusters;
      ALTER TABLE clusters_new RENAME TO clusters;
      CREATE UNIQUE INDEX clusters_by_name ON clusters(name) WHERE removed_at IS NULL;
    `,
  },
];
