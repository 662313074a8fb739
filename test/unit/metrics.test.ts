// Observability without a cluster: the metrics endpoint's address rules and
// its HTTP server (real sockets on loopback), requests counted by method and
// outcome, gauges that agree with `health`, estimate streams that coalesce a
// burst of updates, and the MLflow tracker a template declares (header,
// exports in the rendered script, run-id lines, the version's link on real
// SQLite).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DaemonMetrics, isLoopbackHost, metricsAddress, serveMetrics } from '../../daemon/metrics';
import { createLogger, memorySink } from '../../daemon/log';
import { ClustersAdd, ErrorCode, EstimatesWatch, Health, JobsGet, TemplatesRender, type RuntimeEstimate } from '../../daemon/protocol';
import { EstimateStreams, type EstimateResultMessage } from '../../daemon/runtime/stream';
import { parseSbatchScript } from '../../daemon/slurm/directives';
import { parseHeader } from '../../daemon/templates/header';
import { findBuiltinTemplatesDir, TemplateService, WORKSPACE_TEMPLATES } from '../../daemon/templates/service';
import { mlflowRunIdFrom } from '../../daemon/workflows/service';
import { openDatabase } from '../../daemon/db/database';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { ModelStore, mlflowRunUrl } from '../../daemon/db/models';
import { parseExposition, sampleValue } from './metricsText';
import { startHarness } from './harness';
import { metricsToken } from '../../daemon/state';
import { hostPlatform, usesFileModes } from '../../daemon/platform';

/** Windows has no POSIX modes: the profile directory's ACL protects state there (platforms.test.ts). */
const noModes = !usesFileModes(hostPlatform()) && 'no POSIX file modes on Windows';

const log = createLogger(memorySink('error'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-metrics-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ------------------------------------------------------------- the endpoint

test('the metrics address: off without a port, loopback only, with an error that says why', () => {
  assert.equal(metricsAddress(undefined, undefined), null);
  assert.equal(metricsAddress('', ''), null);
  assert.deepEqual(metricsAddress('9464', undefined), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(metricsAddress('0', '::1'), { host: '::1', port: 0 });
  assert.deepEqual(metricsAddress('9464', '[::1]'), { host: '::1', port: 9464 });
  assert.deepEqual(metricsAddress('9464', 'localhost'), { host: 'localhost', port: 9464 });
  assert.deepEqual(metricsAddress('9464', '127.0.0.2'), { host: '127.0.0.2', port: 9464 });
  for (const host of ['0.0.0.0', '::', '10.1.2.3', '192.168.0.1', 'example.org', '128.0.0.1', '::ffff:10.0.0.1']) {
    assert.equal(isLoopbackHost(host), false, host);
    assert.throws(() => metricsAddress('9464', host), new RegExp(`loopback addresses only .*not "${host.replace(/[.:]/g, '\\$&')}".*SSH tunnel`), host);
  }
  for (const port of ['-1', '65536', 'abc', '94.5', '1e3']) assert.throws(() => metricsAddress(port, undefined), /metrics port must be a whole number from 0 to 65535/, port);
  assert.throws(() => metricsAddress(undefined, '127.0.0.1'), /--metrics-host needs --metrics-port/);
});

test('the endpoint serves /metrics on loopback, with its bearer token only, and nothing else; a non-loopback bind is refused', async () => {
  const metrics = new DaemonMetrics();
  const token = 'a'.repeat(64);
  await assert.rejects(serveMetrics(metrics, { host: '0.0.0.0', port: 0 }, token, log), /refusing to serve metrics on 0\.0\.0\.0: not a loopback address/);
  await assert.rejects(serveMetrics(metrics, { host: '127.0.0.1', port: 0 }, 'short', log), /at least 32 characters/);
  const server = await serveMetrics(metrics, { host: '127.0.0.1', port: 0 }, token, log);
  const auth = { headers: { Authorization: `Bearer ${token}` } };
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    metrics.observeRequest('jobs/list', 'ok', 0.002);
    const r = await fetch(server.url, auth);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await r.text());
    assert.equal(sampleValue(samples, 'slurm_ml_requests_total', { method: 'jobs/list', outcome: 'ok' }), 1);
    // Another user of the machine, without the token or with a wrong one, reads nothing.
    for (const headers of [{} as Record<string, string>, { Authorization: `Bearer ${'b'.repeat(64)}` }, { Authorization: `Bearer ${token.slice(1)}` }, { Authorization: `Basic ${token}` }, { Authorization: token }]) {
      const denied = await fetch(server.url, { headers });
      assert.equal(denied.status, 401, JSON.stringify(headers));
      assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.doesNotMatch(await denied.text(), /slurm_ml_/);
    }
    assert.equal((await fetch(server.url.replace('/metrics', '/'), auth)).status, 404);
    assert.equal((await fetch(server.url, { ...auth, method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

test('the metrics token is kept 0600 across restarts and made anew when its file is damaged', { skip: noModes }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-mtoken-'));
  try {
    const file = path.join(dir, 'metrics-token');
    const first = metricsToken(file);
    assert.match(first, /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(metricsToken(file), first, 'the same token after a restart: a Prometheus reading the file keeps scraping');
    fs.chmodSync(file, 0o644);
    metricsToken(file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'a loosened mode is tightened again');
    fs.writeFileSync(file, 'garbage');
    const second = metricsToken(file);
    assert.match(second, /^[0-9a-f]{64}$/);
    assert.notEqual(second, first);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------- counters and the gauges

test('requests are counted by method and outcome; unknown methods share one label; gauges agree with health', async () => {
  const h = await startHarness();
  try {
    await h.client.request(Health, {});
    await h.client.request(Health, {});
    await assert.rejects(h.client.request(JobsGet, { ref: 'nosuchjob' }), (e: { code: number }) => e.code === ErrorCode.NotFound);
    h.raw.send(JSON.stringify({ jsonrpc: '2.0', id: 'x', method: 'no/such/method' }));
    h.raw.send(JSON.stringify({ jsonrpc: '2.0', id: 'y', method: 'another/typo' }));
    await h.client.request(ClustersAdd, { name: 'hpc', host: 'login.example', port: 22, user: 'u', identityFile: '/k' });
    const health = await h.client.request(Health, {});
    const s = parseExposition(await h.app.metrics.scrape());
    assert.equal(sampleValue(s, 'slurm_ml_requests_total', { method: 'health', outcome: 'ok' }), 3);
    assert.equal(sampleValue(s, 'slurm_ml_requests_total', { method: 'jobs/get', outcome: 'error' }), 1);
    assert.equal(sampleValue(s, 'slurm_ml_requests_total', { method: 'unknown', outcome: 'error' }), 2);
    assert.equal(sampleValue(s, 'slurm_ml_request_duration_seconds_count', { method: 'health', outcome: 'ok' }), 3);
    assert.ok(sampleValue(s, 'slurm_ml_request_duration_seconds_sum', { method: 'health', outcome: 'ok' })! > 0);
    // The gauges say what health says.
    assert.equal(sampleValue(s, 'slurm_ml_health_ok', {}), health.ok ? 1 : 0);
    assert.equal(sampleValue(s, 'slurm_ml_database_ok', {}), 1);
    assert.equal(sampleValue(s, 'slurm_ml_database_schema_version', {}), health.database.schemaVersion);
    assert.equal(sampleValue(s, 'slurm_ml_database_size_bytes', {}), health.database.sizeBytes);
    assert.ok(health.database.sizeBytes > 0);
    assert.equal(sampleValue(s, 'slurm_ml_jobs_active', {}), health.poller.activeJobs);
    assert.equal(sampleValue(s, 'slurm_ml_poller_interval_seconds', {}), health.poller.intervalMs / 1000);
    assert.equal(sampleValue(s, 'slurm_ml_cluster_connection_state', { cluster: 'hpc', state: health.clusters[0]!.connection.status }), 1);
    assert.equal(sampleValue(s, 'slurm_ml_cluster_connection_state', { cluster: 'hpc', state: 'ready' }), 0);
    assert.equal(sampleValue(s, 'slurm_ml_ssh_connections_per_minute_cap', { cluster: 'hpc' }), 2);
  } finally {
    await h.close();
  }
});

// ------------------------------------------------------- estimate streams

/** A real estimate of what matters here: the time limit the script asks for, read by the directive parser. */
async function limitOf(p: { script: string; sbatchArgs: string[] }): Promise<RuntimeEstimate> {
  await new Promise((r) => setImmediate(r));
  const limit = parseSbatchScript(p.script, p.sbatchArgs).request.timeLimitSeconds;
  return { p10: null, p50: limit, p90: null, source: limit === null ? 'none' : 'request', modelVersion: null, expectedStart: null, timeLimitSeconds: limit, warnings: [], problems: [] };
}

test('estimate streams: 100 rapid updates cost a few evaluations, and the one answer is for the last update', async () => {
  const sent: EstimateResultMessage[] = [];
  let evaluated = 0;
  const streams = new EstimateStreams(
    (p) => {
      evaluated++;
      return limitOf(p);
    },
    (m) => sent.push(m),
    log,
  );
  const script = (minutes: number) => `#!/bin/bash\n#SBATCH --time=${minutes}\nsrun hostname\n`;
  let last = 0;
  for (let i = 1; i <= 100; i++) last = streams.update('doc', { cluster: 'c', script: script(i), sbatchArgs: [], expectedStart: false }, 20);
  assert.equal(last, 100);
  while (sent.length === 0) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(evaluated <= 3, `${evaluated} evaluations for 100 updates`);
  assert.equal(sent.length, 1, 'only the latest result is sent');
  assert.equal(sent[0]!.revision, 100);
  assert.equal(sent[0]!.estimate!.timeLimitSeconds, 100 * 60);
  assert.equal(sent[0]!.evaluations, evaluated);
  assert.equal(sent[0]!.skipped, 100 - 1);
  streams.closeAll();
});

test('estimate streams: an update during an evaluation makes its result stale: dropped, and the newest evaluated', async () => {
  const sent: EstimateResultMessage[] = [];
  let release: (() => void) | undefined;
  const streams = new EstimateStreams(
    async (p) => {
      // The first evaluation waits until the test has sent a newer update.
      if (release === undefined) await new Promise<void>((r) => (release = r));
      return limitOf(p);
    },
    (m) => sent.push(m),
    log,
  );
  const update = (t: string) => streams.update('doc', { cluster: 'c', script: `#!/bin/bash\n#SBATCH --time=${t}\n`, sbatchArgs: [], expectedStart: false }, 0);
  update('10');
  while (release === undefined) await new Promise((r) => setTimeout(r, 5));
  update('20');
  update('30');
  release();
  while (sent.length === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(
    sent.map((m) => [m.revision, m.estimate?.timeLimitSeconds]),
    [[3, 1800]],
  );
  assert.equal(sent[0]!.evaluations, 2);
  // Revision 1 went stale, revision 2 was replaced before it was evaluated.
  assert.equal(sent[0]!.skipped, 2);
  // Closed streams send nothing more.
  assert.equal(streams.unwatch('doc'), true);
  update('40');
  streams.closeAll();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sent.length, 1);
});

test('estimates/watch: an unknown cluster is the request\'s error; bad params name the field', async () => {
  const h = await startHarness();
  try {
    await assert.rejects(h.client.request(EstimatesWatch, { id: 'doc', cluster: 'nope', script: '#!/bin/bash\n' }), (e: { code: number; message: string }) => e.code === ErrorCode.NotFound);
    await assert.rejects(
      h.client.request(EstimatesWatch, { id: 'doc', cluster: 'c', script: '#!/bin/bash\n', delayMs: 99_999 }),
      (e: { code: number; data?: { field?: string } }) => e.code === ErrorCode.InvalidParams && e.data?.field === 'params.delayMs',
    );
  } finally {
    await h.close();
  }
});

// ------------------------------------------------------------------ MLflow

const builtinDir = findBuiltinTemplatesDir(path.join(__dirname, '..', '..', 'daemon', 'templates'));

function workspaceTemplate(name: string, headerJson: unknown, body = '#!/bin/bash\n#SBATCH --time=5\n\necho hi\n'): string {
  const ws = fs.mkdtempSync(path.join(tmp, 'ws-'));
  fs.mkdirSync(path.join(ws, WORKSPACE_TEMPLATES), { recursive: true });
  fs.writeFileSync(path.join(ws, WORKSPACE_TEMPLATES, `${name}.sbatch.hbs`), `{{!-- slurm-ml ${JSON.stringify(headerJson)} --}}\n${body}`);
  return ws;
}

test('mlflow in a template header: literals or {{variable}}; an undeclared variable or an unknown key is refused', () => {
  const h = parseHeader('/t.sbatch.hbs', `{{!-- slurm-ml ${JSON.stringify({ kind: 'train', variables: [{ name: 'uri', type: 'string', required: false }], mlflow: { trackingUri: '{{ uri }}', experimentName: 'exp one' } })} --}}\n#!/bin/bash\n`);
  assert.deepEqual(h.mlflow, { trackingUri: { variable: 'uri' }, experimentName: { literal: 'exp one' } });
  const bad = (mlflow: unknown) => () => parseHeader('/t.sbatch.hbs', `{{!-- slurm-ml ${JSON.stringify({ kind: 'train', mlflow })} --}}\n#!/bin/bash\n`);
  assert.throws(bad({ trackingUri: '{{nope}}' }), /mlflow\.trackingUri: refers to variable "nope", which is not declared/);
  assert.throws(bad({ trackingUri: 'http://x', runName: 'r' }), /unknown key\(s\) "runName"/);
  assert.throws(bad({ trackingUri: 'http://x\nrm -rf /' }), /must be one line without control characters/);
  assert.throws(bad({ experimentName: 'x' }), /mlflow\.trackingUri/);
});

test('a declared tracker is exported after the directives, shell-quoted; without one the script is unchanged', () => {
  const ws = workspaceTemplate('tracked', { kind: 'train', mlflow: { trackingUri: "http://mlflow.example:5000/a b?x=1&y='2'", experimentName: '$(touch /tmp/pwned)' } });
  const t = new TemplateService({ builtinDir });
  const r = t.render('tracked', {}, {}, ws);
  assert.deepEqual(r.mlflow, { trackingUri: "http://mlflow.example:5000/a b?x=1&y='2'", experimentName: '$(touch /tmp/pwned)' });
  const lines = r.script.split('\n');
  // After the #SBATCH block (sbatch stops reading directives at the first command), before the first command.
  const exportAt = lines.findIndex((l) => l.startsWith('export MLFLOW_TRACKING_URI='));
  assert.ok(exportAt > lines.indexOf('#SBATCH --time=5') && exportAt < lines.indexOf('echo hi'), r.script);
  // The shell sees exactly the declared values.
  const file = path.join(tmp, 'tracked.sh');
  fs.writeFileSync(file, `${r.script}\nprintf '%s\\n' "$MLFLOW_TRACKING_URI" "$MLFLOW_EXPERIMENT_NAME"\n`);
  const out = execFileSync('bash', [file], { encoding: 'utf8' }).split('\n');
  assert.deepEqual(out.slice(1, 3), ["http://mlflow.example:5000/a b?x=1&y='2'", '$(touch /tmp/pwned)']);
  assert.ok(!fs.existsSync('/tmp/pwned'));
  // The shipped train template: a tracker only when its variable is set.
  const plain = t.render('train', {}, {});
  assert.equal(plain.mlflow, null);
  assert.ok(!plain.script.includes('MLFLOW_'));
  const tracked = t.render('train', { mlflow_tracking_uri: 'http://127.0.0.1:5000' }, {});
  assert.deepEqual(tracked.mlflow, { trackingUri: 'http://127.0.0.1:5000', experimentName: null });
  assert.match(tracked.script, /^export MLFLOW_TRACKING_URI=http:\/\/127\.0\.0\.1:5000$/m);
  assert.ok(!tracked.script.includes('MLFLOW_EXPERIMENT_NAME'));
});

test('templates/render shows the exports a job would get', async () => {
  const h = await startHarness();
  try {
    const r = await h.client.request(TemplatesRender, { template: 'train', values: { mlflow_tracking_uri: 'http://127.0.0.1:5000', mlflow_experiment: 'digits' } });
    assert.match(r.script, /^export MLFLOW_EXPERIMENT_NAME=digits$/m);
  } finally {
    await h.close();
  }
});

test('the run id contract: the last well-formed SLURM_ML_MLFLOW_RUN_ID line wins; anything else is ignored', () => {
  assert.equal(mlflowRunIdFrom(''), null);
  assert.equal(mlflowRunIdFrom('SLURM_ML_MLFLOW_RUN_ID=\n'), null);
  assert.equal(mlflowRunIdFrom('SLURM_ML_MLFLOW_RUN_ID=abc def\nSLURM_ML_MLFLOW_RUN_ID=$(x)\n'), null);
  assert.equal(mlflowRunIdFrom('x\nSLURM_ML_MLFLOW_RUN_ID=first\nSLURM_ML_MLFLOW_RUN_ID=0a1b2c3d4e5f67890a1b2c3d4e5f6789  \r\nlater'), '0a1b2c3d4e5f67890a1b2c3d4e5f6789');
  assert.equal(mlflowRunIdFrom(`SLURM_ML_MLFLOW_RUN_ID=${'a'.repeat(129)}`), null);
});

test('run links: an http(s) tracker gets its run page; credentials, query and other schemes do not leak into it', () => {
  assert.equal(mlflowRunUrl('http://127.0.0.1:5000', 'abc'), 'http://127.0.0.1:5000/#/runs/abc');
  assert.equal(mlflowRunUrl('https://u:secret@mlflow.example/prefix/?token=t', 'abc'), 'https://mlflow.example/prefix/#/runs/abc');
  assert.equal(mlflowRunUrl('file:///home/me/mlruns', 'abc'), null);
  assert.equal(mlflowRunUrl('databricks', 'abc'), null);
  assert.equal(mlflowRunUrl('http://127.0.0.1:5000', null), null);
});

test('a version stores its tracker and run (migration 6); without a tracker it has none', () => {
  const db = openDatabase(path.join(tmp, 'registry.db'));
  try {
    const clusters = new ClusterStore(db);
    const jobs = new JobStore(db);
    const models = new ModelStore(db);
    const c = clusters.add({ name: 'hpc', host: 'h', port: 22, user: 'u', identityFile: '/k', knownHostsFile: '/kh' });
    const job = () => jobs.create({ clusterId: c.id, name: 't', script: '#!/bin/sh\n', scriptPath: '/r/s', runDir: '/r', sbatchArgs: [], kind: 'train', modelName: 'm' }).id;
    const common = { model: 'm', clusterId: c.id, artifactPath: '/r/a', artifacts: [], metrics: {}, gitCommit: null, tags: {} };
    const v1 = models.registerVersion({ ...common, trainingJobId: job(), mlflow: { trackingUri: 'http://127.0.0.1:5000', experimentName: 'e', runId: 'r1' } });
    const v2 = models.registerVersion({ ...common, trainingJobId: job() });
    const v3 = models.registerVersion({ ...common, trainingJobId: job(), mlflow: { trackingUri: 'file:///mlruns', experimentName: null, runId: null } });
    assert.deepEqual(models.resolve('m@v1').mlflow, { trackingUri: 'http://127.0.0.1:5000', experimentName: 'e', runId: 'r1', runUrl: 'http://127.0.0.1:5000/#/runs/r1' });
    assert.deepEqual(v1.mlflow, models.resolve('m@v1').mlflow);
    assert.equal(v2.mlflow, null);
    assert.deepEqual(v3.mlflow, { trackingUri: 'file:///mlruns', experimentName: null, runId: null, runUrl: null });
  } finally {
    db.close();
  }
});
