// Observability against the real cluster, through the built CLI and daemon:
// the Prometheus endpoint is absent unless asked for and refuses
// non-loopback addresses; after a real submit, poll, estimate and a training
// job, a scrape finds every metric with plausible values and agrees with
// `slurm-ml health --json`; every metric the Grafana dashboard queries exists
// in that scrape; a training job given an MLflow tracker (a stub URI: no
// server needed to store the link) sees it in its environment and its
// reported run id lands on the version; 100 rapid updates to one estimate
// stream cost far fewer evaluations and the last answer is the last update's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness, repoRoot } from './cliHarness';
import { connectToRunningDaemon } from '../../daemon/client';
import { statePaths } from '../../daemon/state';
import {
  EstimatesDidChange,
  EstimatesUnwatch,
  EstimatesWatch,
  RuntimeEstimateRequest,
  type DaemonStatusResult,
  type HealthResult,
  type JobInfo,
  type ModelVersionInfo,
  type RuntimeEstimate,
} from '../../daemon/protocol';
import { parseExposition, sampleValue, samplesOf, type Sample } from '../unit/metricsText';

let env: ClusterEnv;

/** TCP ports a process listens on, from /proc (what a port scan of that process would find). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // st 0A: LISTEN
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samplesOf(samples, name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

before(() => {
  env = loadClusterEnv();
});

describe('the endpoint is opt-in and loopback only', () => {
  const h = new CliHarness({ prefix: 'slurm-ml-nometrics-' });
  before(() => h.open());
  after(() => h.close());

  test('without a port: no metrics endpoint; the daemon listens on its protocol port alone', async () => {
    const s = await h.json<DaemonStatusResult & { running: true }>(['daemon', 'start']);
    assert.equal(s.metrics, null);
    assert.deepEqual(listeningPorts(s.pid), [s.port]);
    // The protocol port is WebSocket only: no /metrics there either.
    const r = await fetch(`http://127.0.0.1:${s.port}/metrics`);
    assert.equal(r.status, 426);
    const status = await h.run(['daemon', 'status']);
    assert.match(status.stdout, /metrics +off/);
    // Asking a running daemon without metrics for them says how, rather than pretending.
    const again = await h.run(['daemon', 'start', '--metrics-port', '0']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a daemon already runs \(pid \d+\) without metrics; stop it first \(slurm-ml daemon stop\)/);
  });

  test('a non-loopback address is refused: by the CLI, by the daemon, and from the environment', async () => {
    assert.equal((await h.run(['daemon', 'stop'])).code, 0);
    const cli = await h.run(['daemon', 'start', '--metrics-port', '9464', '--metrics-host', '0.0.0.0']);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /loopback addresses only \(127\.0\.0\.1, ::1, localhost\), not "0\.0\.0\.0".*SSH tunnel/);
    // The daemon itself, started directly.
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-metrics-refuse-'));
    try {
      const direct = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, [path.join(repoRoot, 'dist', 'daemon.js'), '--metrics-port', '0', '--metrics-host', '192.168.1.10'], { env: { ...process.env, SLURM_ML_STATE_DIR: state } }, (_e, _o, stderr) =>
          resolve({ code: child.exitCode, stderr }),
        );
      });
      assert.equal(direct.code, 1);
      assert.match(direct.stderr, /daemon failed to start.*loopback addresses only.*not \\"192\.168\.1\.10\\"/);
      assert.ok(!fs.existsSync(path.join(state, 'daemon.json')), 'nothing was announced');
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
    // A port someone else holds: the daemon does not start half-way, and says why.
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    try {
      const busy = await h.run(['daemon', 'start', '--metrics-port', String((taken.address() as net.AddressInfo).port)]);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /the daemon exited at start[\s\S]*metrics endpoint on 127\.0\.0\.1:\d+: listen EADDRINUSE/);
    } finally {
      taken.close();
    }
    // Through the environment of a command that starts the daemon: the command fails and shows why.
    const viaEnv = new CliHarness({ prefix: 'slurm-ml-metrics-env-', env: { SLURM_ML_METRICS_PORT: '0', SLURM_ML_METRICS_HOST: '10.0.0.1' } });
    viaEnv.open();
    try {
      const r = await viaEnv.run(['health']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /the daemon exited at start[\s\S]*loopback addresses only/);
    } finally {
      await viaEnv.close();
    }
  });
});

describe('a scrape after real work', () => {
  const h = new CliHarness({ prefix: 'slurm-ml-metrics-', timeoutMs: 300_000, env: { SLURM_ML_METRICS_PORT: '0' } });
  let url: string;
  /** What a Prometheus with `credentials_file: <metricsTokenFile>` sends. */
  let auth: { headers: Record<string, string> };
  let submitted: JobInfo;
  let tracked: JobInfo;
  let untracked: JobInfo;
  const runId = `${Date.now().toString(16)}0123456789abcdef`.slice(0, 32);
  const trackingUri = 'http://127.0.0.1:9/mlflow-stub';

  before(async () => {
    h.open();
    const s = await h.json<DaemonStatusResult>(['daemon', 'start']);
    assert.ok(s.metrics, 'SLURM_ML_METRICS_PORT=0 turns metrics on, on a free port');
    url = s.metrics;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    // Loopback only, and on its own port besides the protocol's.
    assert.deepEqual(listeningPorts(s.pid), [s.port, Number(/:(\d+)\/metrics$/.exec(url)![1])].sort((a, b) => a - b));
    // Its bearer token in a file of the state directory, for the user alone.
    assert.equal(s.metricsTokenFile, path.join(s.stateDir, 'metrics-token'));
    assert.equal(fs.statSync(s.metricsTokenFile!).mode & 0o777, 0o600);
    auth = { headers: { Authorization: `Bearer ${fs.readFileSync(s.metricsTokenFile!, 'utf8').trim()}` } };
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401, 'another user of the machine reads nothing without the token');
    assert.doesNotMatch(await anonymous.text(), /slurm_ml_/);
    assert.match((await h.run(['daemon', 'status'])).stdout, /metrics token +\S+metrics-token/);
    await h.addLocalCluster(env);
  });
  after(() => h.close());

  test('a submit polled to its end, a training job with an MLflow tracker and one without', async () => {
    const script = h.script('metrics-job.sbatch', '#SBATCH --time=2\nsleep 1\necho done');
    const train = h.script(
      'train.py',
      [
        'import json, os, sys, time',
        'cfg = json.load(open(sys.argv[sys.argv.index("--config") + 1]))',
        'print("tracker", os.environ.get("MLFLOW_TRACKING_URI", "-"), os.environ.get("MLFLOW_EXPERIMENT_NAME", "-"), flush=True)',
        'open(os.path.join(os.environ["SLURM_ML_ARTIFACT_DIR"], "model.txt"), "w").write("weights")',
        'json.dump({"accuracy": 0.5}, open(os.environ["SLURM_ML_METRICS_FILE"], "w"))',
        'time.sleep(2)',
        'if cfg.get("run_id"):',
        '    print("SLURM_ML_MLFLOW_RUN_ID=not a valid id")',
        '    print("SLURM_ML_MLFLOW_RUN_ID=" + cfg["run_id"])',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(h.work, 'tracked.json'), JSON.stringify({ run_id: runId }));
    fs.writeFileSync(path.join(h.work, 'plain.json'), JSON.stringify({}));
    const wf = (config: string) => ['--cluster', 'local', '--workspace', h.work, '--entrypoint', path.basename(train), '--config', config, '--wait'];
    [submitted, tracked, untracked] = await Promise.all([
      h.json<JobInfo>(['submit', script, '--cluster', 'local', '--wait']),
      h.json<JobInfo>(['train', 'tracked', ...wf('tracked.json'), '--var', `mlflow_tracking_uri=${trackingUri}`, '--var', 'mlflow_experiment=metrics it']),
      h.json<JobInfo>(['train', 'untracked', ...wf('plain.json')]),
    ]);
    for (const j of [submitted, tracked, untracked]) assert.equal(j.state, 'COMPLETED', JSON.stringify(j));
  });

  test('the job saw its tracker in its environment; the version carries the run id it reported, as a link', async () => {
    const log = await h.run(['logs', tracked.id]);
    assert.match(log.stdout, new RegExp(`^tracker ${trackingUri.replace(/[.]/g, '\\.')} metrics it$`, 'm'));
    const { versions } = await h.json<{ versions: ModelVersionInfo[] }>(['model', 'tracked']);
    assert.equal(versions.length, 1);
    assert.deepEqual(versions[0]!.mlflow, { trackingUri, experimentName: 'metrics it', runId, runUrl: `${trackingUri}/#/runs/${runId}` });
    const human = await h.run(['model', 'tracked']);
    assert.ok(human.stdout.includes(`mlflow run ${runId} (metrics it): ${trackingUri}/#/runs/${runId}`), human.stdout);
    // No tracker: nothing in the job's environment, nothing on the version, and the rest as always.
    const plainLog = await h.run(['logs', untracked.id]);
    assert.match(plainLog.stdout, /^tracker - -$/m);
    const plain = (await h.json<{ versions: ModelVersionInfo[] }>(['model', 'untracked'])).versions[0]!;
    assert.equal(plain.mlflow, null);
    assert.equal(plain.metrics.accuracy, 0.5);
    assert.ok(plain.artifacts.some((a) => a.path.endsWith('/model.txt')));
  });

  test('100 rapid updates to one estimate stream: far fewer evaluations, and the last answer is the last update\'s', async (t) => {
    const d = await connectToRunningDaemon({ paths: statePaths({ ...process.env, SLURM_ML_STATE_DIR: h.stateDir }), clientName: 'metrics-test' });
    assert.ok(d);
    try {
      const got: { revision: number; estimate: RuntimeEstimate | null; evaluations: number; skipped: number }[] = [];
      d.rpc.onNotification(EstimatesDidChange, (m) => {
        if (m.id === 'doc') got.push(m);
      });
      const script = (minutes: number) => `#!/bin/bash\n#SBATCH --job-name=metrics-stream\n#SBATCH --time=${minutes}\nsrun sleep 1\n`;
      // As an editor sends them: one per keystroke, without waiting for answers.
      const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => d.rpc.request(EstimatesWatch, { id: 'doc', cluster: 'local', script: script(i + 1), delayMs: 50 })));
      assert.deepEqual(acks.map((a) => a.revision), Array.from({ length: 100 }, (_, i) => i + 1));
      await h.until('the answer to revision 100', () => (got.some((m) => m.revision === 100) ? true : undefined), 60_000, 50);
      const last = got.at(-1)!;
      assert.equal(last.revision, 100);
      t.diagnostic(`100 updates: ${last.evaluations} evaluations, ${last.skipped} skipped, ${got.length} answers sent`);
      assert.ok(last.evaluations <= 10, `${last.evaluations} evaluations for 100 updates`);
      assert.ok(got.length <= last.evaluations, 'only evaluations still current were sent');
      assert.ok(got.every((m, i) => i === 0 || m.revision > got[i - 1]!.revision), 'never an older answer after a newer one');
      // The answer is the estimate of the last script, as a one-off estimate gives it.
      const direct = await d.rpc.request(RuntimeEstimateRequest, { cluster: 'local', script: script(100) });
      assert.equal(last.estimate!.timeLimitSeconds, 100 * 60);
      assert.deepEqual({ ...last.estimate!, expectedStart: null }, { ...direct, expectedStart: null });
      assert.deepEqual(await d.rpc.request(EstimatesUnwatch, { id: 'doc' }), { unwatched: true });
    } finally {
      d.rpc.close();
    }
  });

  test('every metric is there with plausible values, and agrees with health --json', async () => {
    const est = await h.run(['estimate', h.script('estimate.sbatch', '#SBATCH --time=10\nsrun hostname'), '--cluster', 'local', '--json']);
    assert.equal(est.code, 0, est.stderr);
    const before = await h.json<HealthResult>(['health']);
    const r = await fetch(url, auth);
    assert.equal(r.status, 200);
    const s = parseExposition(await r.text());
    const after = await h.json<HealthResult>(['health']);

    // Requests by method and outcome, with latency.
    assert.ok(sampleValue(s, 'slurm_ml_requests_total', { method: 'jobs/submit', outcome: 'ok' })! >= 1);
    assert.ok(sampleValue(s, 'slurm_ml_requests_total', { method: 'train/submit', outcome: 'ok' })! >= 2);
    assert.ok(sampleValue(s, 'slurm_ml_requests_total', { method: 'estimates/watch', outcome: 'ok' })! >= 100);
    const submits = sampleValue(s, 'slurm_ml_request_duration_seconds_count', { method: 'jobs/submit', outcome: 'ok' })!;
    assert.ok(submits >= 1);
    assert.equal(sampleValue(s, 'slurm_ml_request_duration_seconds_bucket', { method: 'jobs/submit', outcome: 'ok', le: '+Inf' }), submits);
    const submitSeconds = sampleValue(s, 'slurm_ml_request_duration_seconds_sum', { method: 'jobs/submit', outcome: 'ok' })! / submits;
    assert.ok(submitSeconds > 0.001 && submitSeconds < 60, `a submit (upload + sbatch over SSH) took ${submitSeconds} s on average`);
    // Poll cycles and their duration.
    const cycles = sampleValue(s, 'slurm_ml_poll_cycles_total', { cluster: 'local', outcome: 'ok' })!;
    assert.ok(cycles >= 2, `${cycles} poll cycles`);
    const pollSeconds = sampleValue(s, 'slurm_ml_poll_cycle_duration_seconds_sum', { cluster: 'local' })! / sampleValue(s, 'slurm_ml_poll_cycle_duration_seconds_count', { cluster: 'local' })!;
    assert.ok(pollSeconds > 0.001 && pollSeconds < 30, `a poll cycle took ${pollSeconds} s on average`);
    // SSH commands and new connections per cluster: many commands over few connections.
    const commands = sampleValue(s, 'slurm_ml_ssh_commands_total', { cluster: 'local' })!;
    const connections = sampleValue(s, 'slurm_ml_ssh_new_connections_total', { cluster: 'local' })!;
    assert.ok(connections >= 1 && connections <= 3, `${connections} new connections`);
    assert.ok(commands >= cycles + 3, `${commands} commands for ${cycles} cycles, a submit and two trainings`);
    assert.ok(sampleValue(s, 'slurm_ml_ssh_commands_last_minute', { cluster: 'local' })! >= 1);
    assert.equal(sampleValue(s, 'slurm_ml_ssh_connections_per_minute_cap', { cluster: 'local' }), 2);
    assert.ok(sampleValue(s, 'slurm_ml_poll_interval_seconds', { cluster: 'local' })! >= 1);
    // Connection state.
    assert.equal(sampleValue(s, 'slurm_ml_cluster_connection_state', { cluster: 'local', state: 'ready' }), 1);
    assert.equal(sum(s, 'slurm_ml_cluster_connection_state', { cluster: 'local' }), 1);
    // Jobs by state and kind.
    assert.equal(sampleValue(s, 'slurm_ml_jobs', { state: 'COMPLETED', kind: 'job' }), 1);
    assert.equal(sampleValue(s, 'slurm_ml_jobs', { state: 'COMPLETED', kind: 'train' }), 2);
    // Runtime estimates: count by source and latency.
    const estimates = sum(s, 'slurm_ml_runtime_estimates_total');
    const estimateCount = sampleValue(s, 'slurm_ml_runtime_estimate_duration_seconds_count', {})!;
    assert.ok(estimates >= 3 && estimates === estimateCount, `${estimates} estimates, ${estimateCount} timed`);
    assert.ok(estimates < 100, 'the stream did not evaluate every update');
    const estimateSeconds = sampleValue(s, 'slurm_ml_runtime_estimate_duration_seconds_sum', {})! / estimateCount;
    assert.ok(estimateSeconds > 0 && estimateSeconds < 30, `an estimate took ${estimateSeconds} s on average`);
    // Model training: the two train jobs ran at least their 2 s sleep each.
    assert.equal(sampleValue(s, 'slurm_ml_model_training_duration_seconds_count', { where: 'cluster' }), 2);
    const trained = sampleValue(s, 'slurm_ml_model_training_duration_seconds_sum', { where: 'cluster' })!;
    assert.ok(trained >= 2 && trained < 600, `training took ${trained} s in all`);
    // Database size, and the rest of health: the same as health --json says.
    const size = sampleValue(s, 'slurm_ml_database_size_bytes', {})!;
    assert.ok(size > 10_000, `${size} bytes`);
    assert.ok(size >= Math.min(before.database.sizeBytes, after.database.sizeBytes) && size <= Math.max(before.database.sizeBytes, after.database.sizeBytes), `${size} vs health ${before.database.sizeBytes}..${after.database.sizeBytes}`);
    assert.equal(sampleValue(s, 'slurm_ml_health_ok', {}), after.ok ? 1 : 0);
    assert.equal(after.ok, true);
    assert.equal(sampleValue(s, 'slurm_ml_database_ok', {}), 1);
    assert.equal(sampleValue(s, 'slurm_ml_database_schema_version', {}), after.database.schemaVersion);
    assert.equal(sampleValue(s, 'slurm_ml_jobs_active', {}), after.poller.activeJobs);
    assert.equal(sampleValue(s, 'slurm_ml_poller_running', {}), after.poller.running ? 1 : 0);
    assert.equal(sampleValue(s, 'slurm_ml_poller_interval_seconds', {}), after.poller.intervalMs / 1000);
    for (const c of after.clusters) assert.equal(sampleValue(s, 'slurm_ml_cluster_connection_state', { cluster: c.name, state: c.connection.status }), 1);
    const lastCycle = sampleValue(s, 'slurm_ml_poller_last_cycle_timestamp_seconds', {})!;
    assert.ok(
      lastCycle >= Date.parse(before.poller.lastCycleAt!) / 1000 && lastCycle <= Date.parse(after.poller.lastCycleAt!) / 1000,
      `last cycle ${lastCycle} between health's ${before.poller.lastCycleAt} and ${after.poller.lastCycleAt}`,
    );
  });

  test('the Grafana dashboard parses, and every metric it queries is in the scrape', async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(repoRoot, 'grafana', 'slurm-ml.json'), 'utf8')) as {
      uid: string;
      title: string;
      panels: { type: string; title: string; targets?: { expr: string; datasource: { uid: string } }[] }[];
      templating: { list: { name: string; type: string; query: string | { query: string } }[] };
    };
    assert.ok(dashboard.uid && dashboard.title);
    const s = parseExposition(await (await fetch(url, auth)).text());
    const exported = new Set(s.map((x) => x.name));
    const queries = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query.query)),
    ];
    const used = new Set(queries.flatMap((q) => q.match(/\bslurm_ml_[a-z0-9_]+/g) ?? []));
    assert.ok(used.size >= 15, `the dashboard uses ${used.size} metrics`);
    const missing = [...used].filter((m) => !exported.has(m));
    assert.deepEqual(missing, [], 'metrics the dashboard queries but the daemon does not export');
    // What the issue asks the dashboard to show.
    for (const m of ['slurm_ml_requests_total', 'slurm_ml_request_duration_seconds_bucket', 'slurm_ml_ssh_commands_last_minute', 'slurm_ml_jobs', 'slurm_ml_runtime_estimate_duration_seconds_bucket']) {
      assert.ok(used.has(m), `the dashboard shows ${m}`);
    }
    // Importable as is: every panel query names the datasource variable the dashboard declares.
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      assert.ok(p.targets && p.targets.length > 0, p.title);
      for (const t of p.targets) assert.equal(t.datasource.uid, '${datasource}', p.title);
    }
  });
});
