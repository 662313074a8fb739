// The model registry: models, their numbered versions, aliases (prod,
// staging, ...) with an append-only history of every move, gate rules and
// gate results. Prepared statements next to the schema (migration 3), rows
// mapped to the protocol's types.
import { randomUUID } from 'node:crypto';
import {
  ErrorCode,
  GateRule as GateRuleSchema,
  ModelName,
  type AliasMove,
  type GateResult,
  type GateRule,
  type GateRuleResult,
  type Metrics,
  type ModelSummary,
  type ModelVersionInfo,
  type OutputFile,
} from '../protocol';
import { RpcError } from '../rpc/connection';
import { DEFAULT_RULES, runGate as defaultRunGate } from '../models/gates';
import type { Db } from './database';

/** A version as the daemon needs it: its row id (jobs and gates point at it) and what clients see. */
export interface VersionRecord {
  id: string;
  modelId: string;
  info: ModelVersionInfo;
}

export interface NewVersion {
  model: string;
  clusterId: string;
  artifactPath: string;
  artifacts: OutputFile[];
  metrics: Metrics;
  /** Null for a version the daemon trained itself (a runtime model). */
  trainingJobId: string | null;
  gitCommit: string | null;
  tags: Record<string, string>;
  /** The tracker the training job's template declared and the run id the job reported (migration 6). */
  mlflow?: { trackingUri: string; experimentName: string | null; runId: string | null } | null;
}

export interface PageRequest {
  offset: number;
  limit: number;
}

export interface AliasMoveRequest {
  name: string;
  alias: string;
  version: number;
  action: 'promote' | 'rollback';
  who: string;
  why: string | null;
  forced: boolean;
}

export interface AliasMoveResult {
  alias: string;
  fromVersion: number | null;
  toVersion: number;
}

export interface PromoteRequest {
  name: string;
  version: number;
  /** Default prod. */
  alias?: string;
  force?: boolean;
  reason?: string;
  who: string;
}

export interface RollbackRequest {
  name: string;
  /** Default prod. */
  alias?: string;
  who: string;
  why?: string | null;
}

/** Runs a gate and records its result (gates.ts runGate, bound to a store). */
export type GateRunner = (name: string, candidate: number, baseline: number) => GateResult;

export interface NewGateResult {
  modelId: string;
  candidateVersionId: string;
  baselineVersionId: string;
  pass: boolean;
  rules: GateRuleResult[];
}

export interface Lineage {
  version: ModelVersionInfo;
  trainingJobId: string | null;
  /** Newest first. */
  evaluationJobIds: string[];
  predictionJobIds: string[];
}

/** An alias is a lower-case word; one that reads as a version (v3) would make NAME@v3 ambiguous. */
const ALIAS = /^[a-z][a-z0-9_-]{0,31}$/;
const VERSION_REF = /^v?(\d+)$/;

/** How many alias moves models/get returns (history() has them all). */
const GET_HISTORY_LIMIT = 100;
const GET_GATES_LIMIT = 20;

interface ModelRow {
  id: string;
  name: string;
  gate_rules: string | null;
  created_at: string;
}

interface VersionRow {
  id: string;
  model_id: string;
  model_name: string;
  version: number;
  cluster_name: string;
  artifact_path: string;
  artifacts: string;
  metrics: string;
  evaluation: string | null;
  training_job_id: string | null;
  git_commit: string | null;
  tags: string;
  note: string | null;
  created_at: string;
  aliases: string;
  mlflow_tracking_uri: string | null;
  mlflow_experiment: string | null;
  mlflow_run_id: string | null;
}

/**
 * The MLflow UI's page of a run: `#/runs/ID` on an http(s) tracking server
 * (the UI finds the run's experiment itself). Null for other tracking URIs
 * (file:, databricks, ...), which have no page to open.
 */
export function mlflowRunUrl(trackingUri: string, runId: string | null): string | null {
  if (runId === null) return null;
  let u: URL;
  try {
    u = new URL(trackingUri);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  u.hash = '';
  u.search = '';
  u.username = '';
  u.password = '';
  const base = u.toString().replace(/\/+$/, '');
  return `${base}/#/runs/${encodeURIComponent(runId)}`;
}

interface HistoryRow {
  alias: string;
  from_version: number | null;
  to_version: number | null;
  action: 'promote' | 'rollback';
  who: string;
  why: string | null;
  forced: number;
  at: string;
}

interface GateRow {
  id: string;
  model_name: string;
  candidate: number;
  baseline: number;
  pass: number;
  rules: string;
  at: string;
}

function versionFromRow(r: VersionRow): VersionRecord {
  return {
    id: r.id,
    modelId: r.model_id,
    info: {
      model: r.model_name,
      version: r.version,
      aliases: JSON.parse(r.aliases) as string[],
      cluster: r.cluster_name,
      artifactPath: r.artifact_path,
      artifacts: JSON.parse(r.artifacts) as OutputFile[],
      metrics: JSON.parse(r.metrics) as Metrics,
      evaluation: r.evaluation === null ? null : (JSON.parse(r.evaluation) as Metrics),
      trainingJob: r.training_job_id,
      gitCommit: r.git_commit,
      tags: JSON.parse(r.tags) as Record<string, string>,
      note: r.note,
      createdAt: r.created_at,
      mlflow:
        r.mlflow_tracking_uri === null
          ? null
          : { trackingUri: r.mlflow_tracking_uri, experimentName: r.mlflow_experiment, runId: r.mlflow_run_id, runUrl: mlflowRunUrl(r.mlflow_tracking_uri, r.mlflow_run_id) },
    },
  };
}

function moveFromRow(r: HistoryRow): AliasMove {
  return { alias: r.alias, fromVersion: r.from_version, toVersion: r.to_version, action: r.action, who: r.who, why: r.why, forced: r.forced === 1, at: r.at };
}

function gateFromRow(r: GateRow): GateResult {
  return { id: r.id, model: r.model_name, candidate: r.candidate, baseline: r.baseline, pass: r.pass === 1, rules: JSON.parse(r.rules) as GateRuleResult[], at: r.at };
}

const SELECT_VERSION = `SELECT v.*, m.name AS model_name, c.name AS cluster_name,
    (SELECT json_group_array(alias) FROM (SELECT a.alias FROM model_aliases a WHERE a.version_id = v.id ORDER BY a.alias)) AS aliases
  FROM model_versions v JOIN models m ON m.id = v.model_id JOIN clusters c ON c.id = v.cluster_id`;

const SELECT_HISTORY = `SELECT h.alias, fv.version AS from_version, tv.version AS to_version, h.action, h.who, h.why, h.forced, h.at
  FROM alias_history h
  LEFT JOIN model_versions fv ON fv.id = h.from_version_id
  LEFT JOIN model_versions tv ON tv.id = h.to_version_id`;

const SELECT_GATE = `SELECT g.id, m.name AS model_name, cv.version AS candidate, bv.version AS baseline, g.pass, g.rules, g.at
  FROM gate_results g
  JOIN models m ON m.id = g.model_id
  JOIN model_versions cv ON cv.id = g.candidate_version_id
  JOIN model_versions bv ON bv.id = g.baseline_version_id`;

function list(items: readonly string[]): string {
  return items.length ? items.join(', ') : 'none';
}

function nonEmpty(s: string | null | undefined): string | null {
  const t = s?.trim();
  return t ? t : null;
}

export class ModelStore {
  private readonly modelByNameStmt;
  private readonly insertModelStmt;
  private readonly modelNamesStmt;
  private readonly modelCountStmt;
  private readonly modelPageStmt;
  private readonly versionByIdStmt;
  private readonly versionByNumberStmt;
  private readonly latestVersionStmt;
  private readonly versionByJobStmt;
  private readonly maxVersionStmt;
  private readonly insertVersionStmt;
  private readonly versionCountStmt;
  private readonly versionPageStmt;
  private readonly aliasesOfModelStmt;
  private readonly aliasRowStmt;
  private readonly upsertAliasStmt;
  private readonly insertHistoryStmt;
  private readonly historyStmt;
  private readonly historyOfAliasStmt;
  private readonly historyIdsStmt;
  private readonly setEvaluationStmt;
  private readonly annotateStmt;
  private readonly setRulesStmt;
  private readonly insertGateStmt;
  private readonly gateByIdStmt;
  private readonly gatesOfModelStmt;
  private readonly jobsOfVersionStmt;

  constructor(private readonly db: Db) {
    this.modelByNameStmt = db.prepare('SELECT * FROM models WHERE name = ?');
    this.insertModelStmt = db.prepare('INSERT INTO models (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING');
    this.modelNamesStmt = db.prepare('SELECT name FROM models ORDER BY name LIMIT 21');
    this.modelCountStmt = db.prepare('SELECT count(*) AS n FROM models');
    this.modelPageStmt = db.prepare(
      `SELECT m.name, m.created_at,
              (SELECT count(*) FROM model_versions v WHERE v.model_id = m.id) AS versions,
              (SELECT max(version) FROM model_versions v WHERE v.model_id = m.id) AS latest,
              (SELECT json_group_object(a.alias, v.version) FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.model_id = m.id) AS aliases
       FROM models m ORDER BY m.name LIMIT ? OFFSET ?`,
    );
    this.versionByIdStmt = db.prepare(`${SELECT_VERSION} WHERE v.id = ?`);
    this.versionByNumberStmt = db.prepare(`${SELECT_VERSION} WHERE v.model_id = ? AND v.version = ?`);
    this.latestVersionStmt = db.prepare(`${SELECT_VERSION} WHERE v.model_id = ? ORDER BY v.version DESC LIMIT 1`);
    this.versionByJobStmt = db.prepare(`${SELECT_VERSION} WHERE v.training_job_id = ?`);
    this.maxVersionStmt = db.prepare('SELECT coalesce(max(version), 0) AS n FROM model_versions WHERE model_id = ?');
    this.insertVersionStmt = db.prepare(
      `INSERT INTO model_versions (id, model_id, version, cluster_id, artifact_path, artifacts, metrics, training_job_id, git_commit, tags, created_at,
         mlflow_tracking_uri, mlflow_experiment, mlflow_run_id)
       VALUES (@id, @model_id, @version, @cluster_id, @artifact_path, @artifacts, @metrics, @training_job_id, @git_commit, @tags, @created_at,
         @mlflow_tracking_uri, @mlflow_experiment, @mlflow_run_id)`,
    );
    this.versionCountStmt = db.prepare('SELECT count(*) AS n FROM model_versions WHERE model_id = ?');
    this.versionPageStmt = db.prepare(`${SELECT_VERSION} WHERE v.model_id = ? ORDER BY v.version DESC LIMIT ? OFFSET ?`);
    this.aliasesOfModelStmt = db.prepare(
      'SELECT a.alias, v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.model_id = ? ORDER BY a.alias',
    );
    this.aliasRowStmt = db.prepare(
      'SELECT a.version_id, v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.model_id = ? AND a.alias = ?',
    );
    this.upsertAliasStmt = db.prepare(
      `INSERT INTO model_aliases (model_id, alias, version_id, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (model_id, alias) DO UPDATE SET version_id = excluded.version_id, updated_at = excluded.updated_at`,
    );
    this.insertHistoryStmt = db.prepare(
      `INSERT INTO alias_history (model_id, alias, from_version_id, to_version_id, action, who, why, forced, at)
       VALUES (@model_id, @alias, @from_version_id, @to_version_id, @action, @who, @why, @forced, @at)`,
    );
    this.historyStmt = db.prepare(`${SELECT_HISTORY} WHERE h.model_id = ? ORDER BY h.seq DESC LIMIT ?`);
    this.historyOfAliasStmt = db.prepare(`${SELECT_HISTORY} WHERE h.model_id = ? AND h.alias = ? ORDER BY h.seq DESC LIMIT ?`);
    this.historyIdsStmt = db.prepare('SELECT to_version_id, action FROM alias_history WHERE model_id = ? AND alias = ? ORDER BY seq');
    this.setEvaluationStmt = db.prepare('UPDATE model_versions SET evaluation = ? WHERE id = ?');
    this.annotateStmt = db.prepare('UPDATE model_versions SET tags = ?, note = ? WHERE id = ?');
    this.setRulesStmt = db.prepare('UPDATE models SET gate_rules = ? WHERE id = ?');
    this.insertGateStmt = db.prepare(
      `INSERT INTO gate_results (id, model_id, candidate_version_id, baseline_version_id, pass, rules, at)
       VALUES (@id, @model_id, @candidate_version_id, @baseline_version_id, @pass, @rules, @at)`,
    );
    this.gateByIdStmt = db.prepare(`${SELECT_GATE} WHERE g.id = ?`);
    this.gatesOfModelStmt = db.prepare(`${SELECT_GATE} WHERE g.model_id = ? ORDER BY g.at DESC, g.rowid DESC LIMIT ?`);
    this.jobsOfVersionStmt = db.prepare('SELECT id, kind FROM jobs WHERE model_version_id = ? AND kind IN (?, ?) ORDER BY created_at DESC, rowid DESC');
  }

  // ---------------------------------------------------------------- models

  /** The model, created on first use. */
  ensureModel(name: string): { id: string; name: string } {
    const checked = ModelName.safeParse(name);
    if (!checked.success) throw new RpcError(ErrorCode.InvalidParams, `model name "${name}": ${checked.error.issues[0]?.message ?? 'invalid'}`);
    this.insertModelStmt.run(randomUUID(), name, new Date().toISOString());
    const row = this.modelByNameStmt.get(name) as ModelRow;
    return { id: row.id, name: row.name };
  }

  private model(name: string): ModelRow {
    const row = this.modelByNameStmt.get(name) as ModelRow | undefined;
    if (row) return row;
    const names = (this.modelNamesStmt.all() as { name: string }[]).map((r) => r.name);
    const shown = names.length > 20 ? `${names.slice(0, 20).join(', ')}, ...` : list(names);
    throw new RpcError(ErrorCode.NotFound, `no model "${name}"; models: ${shown}`);
  }

  list(page: PageRequest): { total: number; models: ModelSummary[] } {
    const total = (this.modelCountStmt.get() as { n: number }).n;
    const rows = this.modelPageStmt.all(page.limit, page.offset) as { name: string; created_at: string; versions: number; latest: number | null; aliases: string }[];
    return {
      total,
      models: rows.map((r) => ({ name: r.name, versions: r.versions, latest: r.latest, aliases: JSON.parse(r.aliases) as Record<string, number>, createdAt: r.created_at })),
    };
  }

  private summary(m: ModelRow): ModelSummary {
    const aliases: Record<string, number> = {};
    for (const a of this.aliasesOfModelStmt.all(m.id) as { alias: string; version: number }[]) aliases[a.alias] = a.version;
    const latest = this.latestVersionStmt.get(m.id) as VersionRow | undefined;
    return { name: m.name, versions: (this.versionCountStmt.get(m.id) as { n: number }).n, latest: latest?.version ?? null, aliases, createdAt: m.created_at };
  }

  /** A model with a page of its versions, newest first; its alias history and latest gates, newest first. */
  get(
    name: string,
    page: PageRequest,
  ): { model: ModelSummary; totalVersions: number; versions: ModelVersionInfo[]; history: AliasMove[]; rules: GateRule[]; gates: GateResult[] } {
    const m = this.model(name);
    const summary = this.summary(m);
    const versions = (this.versionPageStmt.all(m.id, page.limit, page.offset) as VersionRow[]).map((r) => versionFromRow(r).info);
    return {
      model: summary,
      totalVersions: summary.versions,
      versions,
      history: (this.historyStmt.all(m.id, GET_HISTORY_LIMIT) as HistoryRow[]).map(moveFromRow),
      rules: this.rulesOf(m),
      gates: (this.gatesOfModelStmt.all(m.id, GET_GATES_LIMIT) as GateRow[]).map(gateFromRow),
    };
  }

  // -------------------------------------------------------------- versions

  /**
   * The model's next version. Numbering happens in one immediate
   * transaction (the write lock is taken before max+1 is read), so
   * registrations from any connection get distinct numbers. A training job
   * registers once: a repeat returns the version it already made.
   */
  registerVersion(v: NewVersion): ModelVersionInfo {
    return this.db
      .transaction(() => {
        const existing = v.trainingJobId === null ? undefined : (this.versionByJobStmt.get(v.trainingJobId) as VersionRow | undefined);
        if (existing) {
          if (existing.model_name !== v.model) {
            throw new RpcError(
              ErrorCode.Conflict,
              `training job ${v.trainingJobId} already registered ${existing.model_name} v${existing.version}; it cannot also be a version of "${v.model}"`,
            );
          }
          return versionFromRow(existing).info;
        }
        const model = this.ensureModel(v.model);
        const version = (this.maxVersionStmt.get(model.id) as { n: number }).n + 1;
        const id = randomUUID();
        this.insertVersionStmt.run({
          id,
          model_id: model.id,
          version,
          cluster_id: v.clusterId,
          artifact_path: v.artifactPath,
          artifacts: JSON.stringify(v.artifacts),
          metrics: JSON.stringify(v.metrics),
          training_job_id: v.trainingJobId,
          git_commit: v.gitCommit,
          tags: JSON.stringify(v.tags),
          created_at: new Date().toISOString(),
          mlflow_tracking_uri: v.mlflow?.trackingUri ?? null,
          mlflow_experiment: v.mlflow?.experimentName ?? null,
          mlflow_run_id: v.mlflow?.runId ?? null,
        });
        return this.versionById(id);
      })
      .immediate();
  }

  /** NAME (its latest version), NAME@vN, NAME@N or NAME@ALIAS, with the row ids. */
  resolveRecord(ref: string): VersionRecord {
    const at = ref.indexOf('@');
    const name = at < 0 ? ref : ref.slice(0, at);
    const selector = at < 0 ? null : ref.slice(at + 1);
    if (!ModelName.safeParse(name).success || selector === '') {
      throw new RpcError(ErrorCode.InvalidParams, `"${ref}" is not a model reference; give NAME, NAME@ALIAS or NAME@vN`);
    }
    const m = this.model(name);
    if (selector === null) {
      const latest = this.latestVersionStmt.get(m.id) as VersionRow | undefined;
      if (!latest) throw new RpcError(ErrorCode.NotFound, `model "${name}" has no versions yet (train one first)`);
      return versionFromRow(latest);
    }
    const number = VERSION_REF.exec(selector);
    if (number) {
      const row = this.versionByNumberStmt.get(m.id, Number(number[1])) as VersionRow | undefined;
      if (row) return versionFromRow(row);
      const max = (this.maxVersionStmt.get(m.id) as { n: number }).n;
      throw new RpcError(
        ErrorCode.NotFound,
        max === 0 ? `model "${name}" has no versions yet (train one first)` : `model "${name}" has no version ${number[1]}; its versions are v1 to v${max}`,
      );
    }
    const alias = this.aliasRowStmt.get(m.id, selector) as { version_id: string } | undefined;
    if (!alias) {
      const aliases = (this.aliasesOfModelStmt.all(m.id) as { alias: string }[]).map((a) => a.alias);
      throw new RpcError(ErrorCode.NotFound, `model "${name}" has no alias "${selector}"; aliases: ${list(aliases)}`);
    }
    return this.versionRecordById(alias.version_id);
  }

  resolve(ref: string): ModelVersionInfo {
    return this.resolveRecord(ref).info;
  }

  /** The row id of a version (what jobs.model_version_id holds). */
  versionId(name: string, version: number): string {
    return this.resolveRecord(`${name}@v${version}`).id;
  }

  versionRecordById(id: string): VersionRecord {
    const row = this.versionByIdStmt.get(id) as VersionRow | undefined;
    if (!row) throw new RpcError(ErrorCode.NotFound, `no model version with id ${id}`);
    return versionFromRow(row);
  }

  versionById(id: string): ModelVersionInfo {
    return this.versionRecordById(id).info;
  }

  /** The latest evaluation's metrics replace the previous evaluation's. */
  setEvaluation(versionId: string, metrics: Metrics): ModelVersionInfo {
    const changed = this.setEvaluationStmt.run(JSON.stringify(metrics), versionId).changes;
    if (changed === 0) throw new RpcError(ErrorCode.NotFound, `no model version with id ${versionId}`);
    return this.versionById(versionId);
  }

  /** Tags merge over the version's tags (an empty value removes that tag); a note replaces the note ("" clears it). */
  annotate(ref: string, tags: Record<string, string>, note?: string): ModelVersionInfo {
    return this.db
      .transaction(() => {
        const v = this.resolveRecord(ref);
        const merged: Record<string, string> = { ...v.info.tags };
        for (const [k, value] of Object.entries(tags)) {
          if (value === '') delete merged[k];
          else merged[k] = value;
        }
        const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        this.annotateStmt.run(JSON.stringify(sorted), note === undefined ? v.info.note : nonEmpty(note) === null ? null : note, v.id);
        return this.versionById(v.id);
      })
      .immediate();
  }

  /** The jobs around a version: the one that trained it, and those that evaluated it or predicted with it. */
  lineage(ref: string): Lineage {
    const v = this.resolveRecord(ref);
    const evaluationJobIds: string[] = [];
    const predictionJobIds: string[] = [];
    for (const j of this.jobsOfVersionStmt.all(v.id, 'evaluate', 'predict') as { id: string; kind: string }[]) {
      (j.kind === 'evaluate' ? evaluationJobIds : predictionJobIds).push(j.id);
    }
    return { version: v.info, trainingJobId: v.info.trainingJob, evaluationJobIds, predictionJobIds };
  }

  // --------------------------------------------------------------- aliases

  /** The version number an alias points at, or null. */
  aliasHolder(name: string, alias: string): number | null {
    const m = this.model(name);
    const row = this.aliasRowStmt.get(m.id, alias) as { version: number } | undefined;
    return row?.version ?? null;
  }

  private checkAlias(alias: string): void {
    if (!ALIAS.test(alias)) throw new RpcError(ErrorCode.InvalidParams, `alias "${alias}": an alias is a lower-case word (a-z, 0-9, "_", "-"), at most 32 characters`);
    if (VERSION_REF.test(alias)) throw new RpcError(ErrorCode.InvalidParams, `alias "${alias}" would read as a version number in NAME@${alias}; choose another name`);
  }

  /**
   * Points an alias at a version and records the move, in one transaction.
   * Moving an alias to the version that already holds it is a Conflict:
   * nothing would change, and the history records only real moves.
   */
  moveAlias(req: AliasMoveRequest): AliasMoveResult {
    this.checkAlias(req.alias);
    return this.db
      .transaction(() => {
        const m = this.model(req.name);
        const target = this.resolveRecord(`${req.name}@v${req.version}`);
        const current = this.aliasRowStmt.get(m.id, req.alias) as { version_id: string; version: number } | undefined;
        if (current?.version_id === target.id) {
          throw new RpcError(ErrorCode.Conflict, `model "${req.name}" v${req.version} already holds "${req.alias}"; nothing to change`);
        }
        const at = new Date().toISOString();
        this.upsertAliasStmt.run(m.id, req.alias, target.id, at);
        this.insertHistoryStmt.run({
          model_id: m.id,
          alias: req.alias,
          from_version_id: current?.version_id ?? null,
          to_version_id: target.id,
          action: req.action,
          who: req.who,
          why: nonEmpty(req.why),
          forced: req.forced ? 1 : 0,
          at,
        });
        return { alias: req.alias, fromVersion: current?.version ?? null, toVersion: req.version };
      })
      .immediate();
  }

  /**
   * Points an alias at a version. Moving prod while a prod version exists
   * needs the candidate to pass the model's gate against it, run now (a
   * stored result may predate the latest evaluation of either side); the
   * result is recorded either way. A failing gate is a Conflict listing each
   * failing rule, unless forced: force needs a reason, and is recorded as
   * forced only when it actually overrode a failing gate. The first prod and
   * every other alias need no gate (gate: null).
   */
  promote(req: PromoteRequest, runGate: GateRunner = (n, c, b) => defaultRunGate(this, n, c, b)): AliasMoveResult & { gate: GateResult | null } {
    const alias = req.alias ?? 'prod';
    const force = req.force ?? false;
    const reason = nonEmpty(req.reason);
    if (force && reason === null) {
      throw new RpcError(ErrorCode.InvalidParams, 'forcing a promotion needs a reason (it is recorded in the alias history)', { field: 'params.reason' });
    }
    this.checkAlias(alias);
    type Outcome = { gate: GateResult; moved: null } | { gate: GateResult | null; moved: AliasMoveResult };
    const outcome = this.db
      .transaction((): Outcome => {
        const current = this.aliasHolder(req.name, alias);
        this.resolveRecord(`${req.name}@v${req.version}`);
        if (current === req.version) {
          throw new RpcError(ErrorCode.Conflict, `model "${req.name}" v${req.version} already holds "${alias}"; nothing to change`);
        }
        const gate = alias === 'prod' && current !== null ? runGate(req.name, req.version, current) : null;
        // A failing gate is kept (it is committed with this transaction) and the alias stays put.
        if (gate && !gate.pass && !force) return { gate, moved: null };
        const moved = this.moveAlias({ name: req.name, alias, version: req.version, action: 'promote', who: req.who, why: reason, forced: gate !== null && !gate.pass });
        return { gate, moved };
      })
      .immediate();
    if (outcome.moved === null) {
      const failing = outcome.gate.rules.filter((r) => !r.pass).map((r) => `  ${r.detail}`);
      throw new RpcError(
        ErrorCode.Conflict,
        `v${req.version} of "${req.name}" failed the gate against prod (v${outcome.gate.baseline}):\n${failing.join('\n')}\n` +
          'promote with force and a reason to override',
      );
    }
    return { ...outcome.moved, gate: outcome.gate };
  }

  /**
   * Undoes the alias's moves like an undo stack: replaying its history,
   * a promote pushes the new holder and a rollback pops one, so repeated
   * rollbacks walk further back (v3 -> v2 -> v1) instead of swapping the
   * last two. A rollback needs no gate: it returns to a version that held
   * the alias before. It is itself recorded (action rollback).
   */
  rollback(req: RollbackRequest): AliasMoveResult {
    const alias = req.alias ?? 'prod';
    return this.db
      .transaction(() => {
        const m = this.model(req.name);
        const stack: string[] = [];
        for (const h of this.historyIdsStmt.all(m.id, alias) as { to_version_id: string | null; action: string }[]) {
          if (h.to_version_id === null) stack.length = 0;
          else if (h.action === 'rollback') stack.pop();
          else stack.push(h.to_version_id);
        }
        const current = this.aliasRowStmt.get(m.id, alias) as { version_id: string; version: number } | undefined;
        if (!current) {
          const aliases = (this.aliasesOfModelStmt.all(m.id) as { alias: string }[]).map((a) => a.alias);
          throw new RpcError(ErrorCode.Conflict, `model "${req.name}" has no alias "${alias}" to roll back; aliases: ${list(aliases)}`);
        }
        const previous = stack.length >= 2 ? stack[stack.length - 2] : undefined;
        if (previous === undefined) {
          throw new RpcError(ErrorCode.Conflict, `"${alias}" of model "${req.name}" has no earlier version to go back to (v${current.version} is the first one it held)`);
        }
        const target = this.versionRecordById(previous);
        return this.moveAlias({ name: req.name, alias, version: target.info.version, action: 'rollback', who: req.who, why: req.why ?? null, forced: false });
      })
      .immediate();
  }

  /** Every move, newest first; of one alias when given. */
  history(name: string, alias?: string): AliasMove[] {
    const m = this.model(name);
    const rows = alias === undefined ? this.historyStmt.all(m.id, -1) : this.historyOfAliasStmt.all(m.id, alias, -1);
    return (rows as HistoryRow[]).map(moveFromRow);
  }

  // ----------------------------------------------------------------- gates

  private rulesOf(m: ModelRow): GateRule[] {
    return m.gate_rules === null ? DEFAULT_RULES.map((r) => ({ ...r })) : (JSON.parse(m.gate_rules) as GateRule[]);
  }

  /** The model's gate rules; the defaults until it has its own. */
  rules(name: string): GateRule[] {
    return this.rulesOf(this.model(name));
  }

  /** Replaces the model's rules; an empty list returns it to the defaults. One rule per metric. */
  setRules(name: string, rules: GateRule[]): GateRule[] {
    const m = this.model(name);
    const seen = new Set<string>();
    const clean: GateRule[] = [];
    rules.forEach((rule, i) => {
      const checked = GateRuleSchema.safeParse(rule);
      if (!checked.success) {
        const issue = checked.error.issues[0];
        const field = ['rules', `[${i}]`, ...(issue?.path ?? []).map(String)].join('.').replace(/\.\[/g, '[');
        throw new RpcError(ErrorCode.InvalidParams, `${field}: ${issue?.message ?? 'invalid'}`, { field: `params.${field}` });
      }
      if (seen.has(rule.metric)) {
        throw new RpcError(ErrorCode.InvalidParams, `rules[${i}]: a second rule for "${rule.metric}"; give one rule per metric`, { field: `params.rules[${i}].metric` });
      }
      seen.add(rule.metric);
      clean.push(checked.data);
    });
    this.setRulesStmt.run(clean.length ? JSON.stringify(clean) : null, m.id);
    return this.rules(name);
  }

  /** Stores a gate's outcome; returns it as clients see it. */
  recordGate(result: NewGateResult): GateResult {
    const id = randomUUID();
    this.insertGateStmt.run({
      id,
      model_id: result.modelId,
      candidate_version_id: result.candidateVersionId,
      baseline_version_id: result.baselineVersionId,
      pass: result.pass ? 1 : 0,
      rules: JSON.stringify(result.rules),
      at: new Date().toISOString(),
    });
    return gateFromRow(this.gateByIdStmt.get(id) as GateRow);
  }
}
