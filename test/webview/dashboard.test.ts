// The BUILT dashboard page in headless Chromium, fed through its message
// interface as the extension feeds it: 10,000 jobs render, filter, sort and
// open; updates arrive without a reload; charts are drawn; the batch estimate
// reads a CSV and offers the result as CSV; UI state survives a reload; the
// CSP is never violated. Screenshots in light and dark land in test-artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import type { WebviewToHost } from '../../webview/protocol';
import { artifactsDir, clearPosted, firstRenderMs, launchChromium, openDashboard, serveDashboard, syntheticJobs, type PageHarness, type Served } from './harness';

type Msg<T extends WebviewToHost['type']> = Extract<WebviewToHost, { type: T }>;
const is =
  <T extends WebviewToHost['type']>(type: T, extra: (m: Msg<T>) => boolean = () => true) =>
  (m: WebviewToHost): m is Msg<T> =>
    m.type === type && extra(m as Msg<T>);

const JOBS = syntheticJobs(10_000);
let served: Served;
let browser: Browser;
let h: PageHarness;

before(async () => {
  fs.mkdirSync(artifactsDir, { recursive: true });
  served = await serveDashboard();
  browser = await launchChromium();
  h = await openDashboard(browser, served.url, { theme: 'dark' });
  await h.waitFor(is('ready'), 'ready');
  await firstRenderMs(h, JOBS);
});

after(async () => {
  await browser?.close();
  await served?.close();
});

/** The grid rows in the DOM: id and each cell's text. */
function gridRows(p: PageHarness): Promise<{ id: string; cells: string[] }[]> {
  return p.page.$$eval('.grid-body [role=row]', (rows) =>
    rows
      .map((r) => ({ y: (r as HTMLElement).getBoundingClientRect().top, id: (r as HTMLElement).dataset.id ?? '', cells: [...r.querySelectorAll('[role=gridcell]')].map((c) => c.textContent ?? '') }))
      .sort((a, b) => a.y - b.y)
      .map(({ id, cells }) => ({ id, cells })),
  );
}

async function countText(p: PageHarness): Promise<string> {
  return (await p.page.textContent('#job-count')) ?? '';
}

async function untilText(p: PageHarness, selector: string, pattern: RegExp, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    last = (await p.page.textContent(selector).catch(() => null)) ?? '';
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${selector} never matched ${pattern}; last: ${JSON.stringify(last.slice(0, 300))}`);
}

test('10,000 jobs: all counted, a few dozen rows in the DOM, newest first, a chart of the states', async () => {
  assert.equal(await countText(h), '10,000 of 10,000 jobs');
  const rows = await gridRows(h);
  assert.ok(rows.length > 10 && rows.length < 100, `${rows.length} rows in the DOM (virtualized)`);
  assert.deepEqual(rows.slice(0, 5).map((r) => r.id), JOBS.slice(0, 5).map((j) => j.id), 'newest submission first');
  assert.equal(await h.page.getAttribute('[role=grid]', 'aria-rowcount'), '10001');
  // The chart is drawn (pixels on the canvas) and says the counts for screen readers.
  const failed = JOBS.filter((j) => j.terminal && j.state !== 'COMPLETED').length;
  assert.match((await h.page.getAttribute('#jobs-by-state', 'aria-label')) ?? '', new RegExp(`Failed / cancelled ${failed}\\b`));
  const painted = await h.page.$eval('#jobs-by-state', (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
    return n;
  });
  assert.ok(painted > 1000, `${painted} painted pixels`);
  await h.page.screenshot({ path: path.join(artifactsDir, 'dashboard-jobs-dark.png') });
});

test('search, state and cluster filters narrow the grid to matching jobs', async () => {
  await h.page.fill('#job-search input', 'bert-finetune');
  const expected = JOBS.filter((j) => j.name.toLowerCase().includes('bert-finetune'));
  await untilText(h, '#job-count', new RegExp(`^${expected.length.toLocaleString('en-US')} of 10,000 jobs$`));
  for (const r of await gridRows(h)) assert.match(r.cells[1]!, /bert-finetune/);

  // State: Failed / cancelled, through the dropdown as a person would.
  await h.page.click('#filter-state');
  await h.page.click('#filter-state vscode-option[value=failed]');
  const failedBert = expected.filter((j) => j.terminal && j.state !== 'COMPLETED');
  await untilText(h, '#job-count', new RegExp(`^${failedBert.length} of 10,000 jobs$`));
  for (const r of await gridRows(h)) assert.ok(['FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY'].includes(r.cells[0]!), r.cells[0]);

  await h.page.click('#filter-cluster');
  await h.page.click('#filter-cluster vscode-option[value=gpu-cluster]');
  const onGpu = failedBert.filter((j) => j.cluster === 'gpu-cluster');
  await untilText(h, '#job-count', new RegExp(`^${onGpu.length} of 10,000 jobs$`));
  assert.deepEqual((await gridRows(h)).map((r) => r.id), onGpu.slice(0, 40).map((j) => j.id).slice(0, (await gridRows(h)).length));

  // The filters are kept in the state VS Code restores.
  const state = (await h.savedState()) as { filter: { search: string; state: string; cluster: string } };
  assert.deepEqual(state.filter, { search: 'bert-finetune', state: 'failed', cluster: 'gpu-cluster', kind: '' });

  // Clear them again.
  await h.page.fill('#job-search input', '');
  await h.page.click('#filter-state');
  await h.page.click('#filter-state vscode-option[value=all]');
  await h.page.click('#filter-cluster');
  await h.page.click('#filter-cluster vscode-option[value=""]');
  await untilText(h, '#job-count', /^10,000 of 10,000 jobs$/);
});

test('sorting by a column header, both directions, with aria-sort', async () => {
  const byName = [...JOBS].map((j) => j.name.toLowerCase()).sort();
  await h.page.click('[data-sort=name]');
  await untilText(h, '[aria-sort=ascending]', /Name/);
  let rows = await gridRows(h);
  assert.deepEqual(rows.slice(0, 10).map((r) => r.cells[1]!.toLowerCase()), byName.slice(0, 10));
  await h.page.click('[data-sort=name]');
  await untilText(h, '[aria-sort=descending]', /Name/);
  rows = await gridRows(h);
  assert.deepEqual(rows.slice(0, 10).map((r) => r.cells[1]!.toLowerCase()), [...byName].reverse().slice(0, 10));
  // Back to the default: newest submission first.
  await h.page.click('[data-sort=submitTime]');
  await untilText(h, '[aria-sort=descending]', /Submitted/);
  assert.equal((await gridRows(h))[0]!.id, JOBS[0]!.id);
});

test('scrolling far down shows the rows there, not the first ones', async () => {
  await h.page.$eval('.grid-viewport', (v) => (v.scrollTop = 26 * 5000));
  await new Promise((r) => setTimeout(r, 200));
  const rows = await gridRows(h);
  const ids = new Set(JOBS.slice(4990, 5040).map((j) => j.id));
  assert.ok(rows.some((r) => ids.has(r.id)), 'rows around the 5,000th are in the DOM');
  assert.ok(rows.length < 100);
  await h.page.$eval('.grid-viewport', (v) => (v.scrollTop = 0));
});

test('keyboard: arrows move, Enter opens the detail pane, which asks for the job and its log; Escape closes it', async () => {
  await clearPosted(h);
  await h.page.focus('.grid-viewport');
  await h.page.keyboard.press('ArrowDown');
  await h.page.keyboard.press('ArrowDown');
  await h.page.keyboard.press('Enter');
  const target = JOBS[1]!;
  const load = await h.waitFor(is('load', (m) => m.what === 'jobDetail'), 'a jobDetail load');
  assert.equal(load.ref, target.id);
  const follow = await h.waitFor(is('followLog'), 'followLog');
  assert.equal(follow.jobId, target.id);
  await untilText(h, '#job-detail h2', new RegExp(target.name));
  // The extension answers with the record, the estimate and the log.
  const detail = {
    ...target,
    requested: { partition: target.partition, qos: null, account: null, timeLimitSeconds: target.timeLimitSeconds, nodes: 1, cpus: target.cpus, tres: 'cpu=1,mem=1G,node=1' },
    runDir: '/home/u/.slurm-ml/runs/x',
    scriptPath: '/home/u/.slurm-ml/runs/x/job.sbatch',
    stdoutPath: null,
    stderrPath: null,
    exitSignal: null,
    array: null,
    resubmittedFrom: null,
    outputDir: null,
    finalized: target.terminal,
    createdAt: target.submitTime,
    updatedAt: target.submitTime,
    script: '#!/bin/bash\n#SBATCH --time=60\npython3 train.py --epochs 3\n',
    template: null,
    values: null,
    metrics: null,
    outputs: null,
    logTail: null,
    sbatchArgs: ['--partition=gpu'],
  };
  const estimate = { p10: 600, p50: 1200, p90: 2400, source: 'model', modelVersion: 3, expectedStart: null, timeLimitSeconds: 3600, warnings: [], problems: [] };
  await h.post({ type: 'jobDetail', detail, estimate });
  await h.post({ type: 'log', jobId: target.id, data: 'epoch 1\n', reset: true, done: false });
  await h.post({ type: 'log', jobId: target.id, data: 'epoch 2\n', reset: false, done: false });
  await untilText(h, '#job-detail pre.script', /python3 train\.py --epochs 3/);
  await untilText(h, '#job-log', /^epoch 1\nepoch 2\n$/);
  assert.match((await h.page.getAttribute('#job-detail .interval', 'aria-label')) ?? '', /Predicted 20 m \(80 %: 10 m to 40 m\)/);
  // Actions go to the extension.
  await clearPosted(h);
  await h.page.click('#job-detail [data-action=showOutput]');
  const action = await h.waitFor(is('action'), 'an action');
  assert.deepEqual([action.action, action.jobId], ['showOutput', target.id]);
  await h.page.screenshot({ path: path.join(artifactsDir, 'dashboard-detail-dark.png') });
  await h.page.focus('#job-log');
  await h.page.keyboard.press('Escape');
  await h.waitFor(is('followLog', (m) => m.jobId === null), 'followLog(null)');
  await h.page.waitForSelector('#job-detail', { state: 'hidden', timeout: 5000 });
});

test('updates: a changed job and a new job show up without a reload; a burst renders only the latest', async () => {
  const readies = (await h.posted()).filter((m) => m.type === 'ready').length;
  const changed = { ...JOBS[0]!, state: 'RUNNING', terminal: false, startTime: JOBS[0]!.submitTime, endTime: null };
  const fresh = { ...JOBS[0]!, id: '00000000-0000-4000-8000-999999999999', slurmJobId: '200000', name: 'just-submitted', submitTime: new Date(Date.parse(JOBS[0]!.submitTime!) + 60_000).toISOString(), state: 'PENDING', terminal: false, startTime: null, endTime: null };
  // Fifty updates of the same job in one burst: the last one counts.
  for (let i = 0; i < 50; i++) await h.post({ type: 'jobs/update', jobs: [{ ...changed, progress: i * 2 }] });
  await h.post({ type: 'jobs/update', jobs: [fresh] });
  await untilText(h, '#job-count', /^10,001 of 10,001 jobs$/);
  const rows = await gridRows(h);
  assert.equal(rows[0]!.id, fresh.id);
  assert.equal(rows[0]!.cells[1], 'just-submitted');
  assert.equal(rows[1]!.cells[0], 'RUNNING');
  assert.equal(rows[1]!.cells[8], '98 %');
  assert.equal((await h.posted()).filter((m) => m.type === 'ready').length, readies, 'no reload');
});

test('a malformed message is refused with a notice and changes nothing', async () => {
  await h.post({ type: 'jobs/update', jobs: [{ id: 'x', state: 42 }] });
  await h.post({ type: 'no-such-thing' });
  await untilText(h, '.notice', /Ignored a malformed message from the extension/);
  assert.equal(await countText(h), '10,001 of 10,001 jobs');
});

/** Canvas pixels close to an RGB colour (the chart's text and grid are drawn in the theme's foreground). */
function pixelsNear(p: PageHarness, selector: string, rgb: [number, number, number]): Promise<number> {
  return p.page.$eval(
    selector,
    (c, target) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 200 && Math.abs(d[i]! - target[0]) + Math.abs(d[i + 1]! - target[1]) + Math.abs(d[i + 2]! - target[2]) < 30) n++;
      return n;
    },
    rgb,
  );
}

test('light and high-contrast themes: the page and its chart take the editor theme colours', async () => {
  const darkFg: [number, number, number] = [0xcc, 0xcc, 0xcc];
  const lightFg: [number, number, number] = [0x3b, 0x3b, 0x3b];
  assert.ok((await pixelsNear(h, '#jobs-by-state', darkFg)) > 20, 'dark: labels in the dark theme foreground');
  await h.setTheme('light');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (await pixelsNear(h, '#jobs-by-state', lightFg)) < 20) await new Promise((r) => setTimeout(r, 50));
  assert.ok((await pixelsNear(h, '#jobs-by-state', lightFg)) > 20, 'light: labels redrawn in the light theme foreground');
  assert.equal(await h.page.$eval('body', (b) => getComputedStyle(b).backgroundColor), 'rgb(255, 255, 255)');
  assert.equal(await h.page.$eval('.grid-body [role=gridcell]:nth-child(2)', (c) => getComputedStyle(c).color), 'rgb(59, 59, 59)');
  await h.page.screenshot({ path: path.join(artifactsDir, 'dashboard-jobs-light.png') });
  // High contrast: black, white text, the contrast border around a selected row.
  await h.setTheme('high-contrast');
  const white: [number, number, number] = [0xff, 0xff, 0xff];
  const until2 = Date.now() + 5000;
  while (Date.now() < until2 && (await pixelsNear(h, '#jobs-by-state', white)) < 20) await new Promise((r) => setTimeout(r, 50));
  assert.ok((await pixelsNear(h, '#jobs-by-state', white)) > 20, 'high contrast: labels in white');
  assert.equal(await h.page.$eval('body', (b) => getComputedStyle(b).backgroundColor), 'rgb(0, 0, 0)');
  await h.page.screenshot({ path: path.join(artifactsDir, 'dashboard-jobs-high-contrast.png') });
  await h.setTheme('dark');
});

test('runtime: predicted against actual and the error over time are drawn; a CSV batch is estimated and offered as CSV', async () => {
  await h.post({ type: 'clusters', overview: { clusters: [], budgets: [] } });
  await clearPosted(h);
  await h.page.click('#tab-runtime');
  // No cluster registered any more: the clusters the jobs ran on are offered.
  const load = await h.waitFor(is('load', (m) => m.what === 'runtime'), 'a runtime load');
  assert.equal(load.cluster, 'gpu-cluster');
  const jobs = Array.from({ length: 200 }, (_, i) => {
    const actual = 300 + ((i * 37) % 900);
    const submit = Date.parse('2026-11-20T00:00:00Z') + i * 600_000;
    return {
      slurmJobId: String(5000 + i),
      name: `job-${i % 4}`,
      submitTime: new Date(submit).toISOString(),
      endTime: new Date(submit + actual * 1000).toISOString(),
      actualSeconds: actual,
      requestedSeconds: 3600,
      p10: actual * 0.6,
      p50: actual * 1.05,
      p90: actual * 1.8,
      lastTwoSeconds: 700,
      seenInTraining: i < 150,
    };
  });
  const metrics = { n: 50, mae_minutes: 1.2, median_abs_error_minutes: 0.8, accuracy: 0.9, p50_under_rate: 0.4, p90_under_rate: 0.08, coverage: 0.81 };
  await h.post({ type: 'runtime', overview: { cluster: 'gpu-cluster', info: null, modelVersion: 2, totalJobs: 200, jobs, metrics: { model: metrics, requested: { n: 50, mae_minutes: 45 }, lastTwo: { n: 50, mae_minutes: 6 } }, versions: [] } });
  await untilText(h, '.runtime-body', /Runtime model in use: v2/);
  for (const id of ['#runtime-predicted', '#runtime-error']) {
    const painted = await h.page.$eval(id, (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n;
    });
    assert.ok(painted > 1000, `${id}: ${painted} painted pixels`);
  }
  assert.match((await h.page.textContent('.runtime-body table')) ?? '', /mae_minutes1\.200456median/);
  await h.page.screenshot({ path: path.join(artifactsDir, 'dashboard-runtime-dark.png') });

  // A CSV upload: header in any order, a quoted name with a comma.
  const csvFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dash-csv-')), 'requests.csv');
  fs.writeFileSync(csvFile, 'time,name,cpus\n30,"prep, small",1\n2:00:00,train,8\n');
  await clearPosted(h);
  await h.page.setInputFiles('#batch-file', csvFile);
  const batch = await h.waitFor(is('batchEstimate'), 'a batch estimate request');
  assert.equal(batch.cluster, 'gpu-cluster');
  assert.deepEqual(batch.rows.map((r) => [r.name, r.time, r.cpus]), [['prep, small', '30', '1'], ['train', '2:00:00', '8']]);
  await h.post({
    type: 'batchEstimate',
    requestId: batch.requestId,
    cluster: 'gpu-cluster',
    estimates: [
      { p10: 600, p50: 1200, p90: 1700, source: 'model', modelVersion: 2, expectedStart: null, timeLimitSeconds: 1800, warnings: [], problems: [] },
      { p10: 3000, p50: 5000, p90: 7000, source: 'model', modelVersion: 2, expectedStart: null, timeLimitSeconds: 7200, warnings: [], problems: [] },
    ],
  });
  await untilText(h, '.batch-results', /2 estimate\(s\) on gpu-cluster/);
  await clearPosted(h);
  await h.page.click('#batch-download');
  const save = await h.waitFor(is('saveFile'), 'a saveFile');
  assert.equal(save.name, 'estimates-gpu-cluster.csv');
  assert.equal(
    save.content,
    'name,time,cpus,nodes,mem,partition,gpus,p10_seconds,p50_seconds,p90_seconds,source,warnings,problems\r\n"prep, small",30,1,,,,,600,1200,1700,model,,\r\ntrain,2:00:00,8,,,,,3000,5000,7000,model,,\r\n',
  );
  await h.page.click('#tab-jobs');
});

test('state survives a reload: the page comes back on the same view with the same filter, and asks again for its data', async () => {
  await h.page.fill('#job-search input', 'zeta');
  await untilText(h, '#job-count', /of 10,001 jobs$/);
  const saved = await h.savedState();
  const again = await openDashboard(browser, served.url, { theme: 'dark', state: saved });
  try {
    await again.waitFor(is('ready'), 'ready');
    await firstRenderMs(again, JOBS);
    const expected = JOBS.filter((j) => j.name.includes('zeta')).length;
    assert.equal(await countText(again), `${expected.toLocaleString('en-US')} of 10,000 jobs`);
    assert.equal(await again.page.inputValue('#job-search input'), 'zeta');
    assert.deepEqual(await again.violations(), []);
  } finally {
    await again.close();
  }
});

test('models: versions with aliases, metrics side by side, gate rules with their numbers, alias history, lineage', async () => {
  await clearPosted(h);
  await h.page.click('#tab-models');
  await h.waitFor(is('load', (m) => m.what === 'models'), 'a models load');
  await h.post({ type: 'models', models: [{ name: 'digits', versions: 2, latest: 2, aliases: { prod: 2 }, createdAt: '2026-11-20T10:00:00Z' }] });
  await h.page.click('.model-list button >> text=digits');
  const load = await h.waitFor(is('load', (m) => m.what === 'model'), 'a model load');
  assert.equal(load.name, 'digits');
  const v = (version: number, accuracy: number, aliases: string[]) => ({
    model: 'digits', version, aliases, cluster: 'hpc', artifactPath: `/home/u/models/digits/v${version}`, artifacts: [{ path: 'model.onnx', size: 1000 }],
    metrics: { accuracy }, evaluation: { accuracy: accuracy - 0.01, latency_p95_ms: 3 }, trainingJob: '00000000-0000-4000-8000-000000000001', gitCommit: 'abcdef1234567', tags: {}, note: null, createdAt: `2026-11-2${version}T10:00:00Z`,
  });
  await h.post({
    type: 'model',
    detail: {
      model: { name: 'digits', versions: 2, latest: 2, aliases: { prod: 2 }, createdAt: '2026-11-20T10:00:00Z' },
      totalVersions: 2,
      versions: [v(2, 0.97, ['prod']), v(1, 0.95, [])],
      history: [{ alias: 'prod', fromVersion: 1, toVersion: 2, action: 'promote', who: 'alice via vscode', why: 'better', forced: false, at: '2026-11-22T10:00:00Z' }],
      rules: [{ metric: 'accuracy', direction: 'higher', tolerance: 0.01, mode: 'absolute' }],
      gates: [{ id: '00000000-0000-4000-8000-0000000000aa', model: 'digits', candidate: 2, baseline: 1, pass: true, at: '2026-11-22T09:59:00Z', rules: [{ metric: 'accuracy', direction: 'higher', tolerance: 0.01, mode: 'absolute', candidate: 0.96, baseline: 0.94, limit: 0.93, pass: true, detail: '0.96 ≥ 0.93' }] }],
    },
  });
  const text = async () => (await h.page.textContent('.model-main')) ?? '';
  await untilText(h, '.model-main', /Metrics side by side/);
  // By default the version prod holds and the newest (here the same); choose v1 too.
  assert.match(await text(), /Metricv2 \(prod\)accuracy0\.970eval/);
  await h.page.click('vscode-checkbox[data-version="1"]');
  await untilText(h, '.model-main', /Metricv2 \(prod\)v1accuracy0\.9700\.950/);
  assert.match(await text(), /accuracy \(higher, 0\.01 absolute\)0\.9600\.9400\.930pass0\.96 ≥ 0\.93/);
  assert.match(await text(), /prodv1v2promotealice via vscodebetter/);
  await clearPosted(h);
  await h.page.click('.model-main table >> nth=0 >> button >> nth=0');
  const lin = await h.waitFor(is('load', (m) => m.what === 'lineage'), 'a lineage load');
  assert.equal(lin.ref, 'digits@v2');
  const job = (name: string) => ({ ...detailJob(), name });
  await h.post({ type: 'lineage', lineage: { version: v(2, 0.97, ['prod']), trainingJob: job('train-digits'), evaluations: [job('eval-digits')], predictions: [job('predict-a'), job('predict-b')] } });
  await untilText(h, 'ol.lineage', /Training job train-digits.*Version v2.*Evaluations \(1\) eval-digits.*Predictions \(2\) predict-a.*predict-b/s);
  await h.page.screenshot({ path: path.join(artifactsDir, 'dashboard-models-dark.png') });
  await h.page.click('#tab-jobs');
});

test('cluster: SSH state, poll budget, partitions with node states (chart and table), the queue', async () => {
  const cluster = {
    id: '00000000-0000-4000-8000-0000000000cc', name: 'hpc', sshAlias: null, host: 'login.hpc.example', port: 22, user: 'alice', identityFile: null,
    knownHostsFile: '/home/alice/.ssh/known_hosts', sshConfigFile: null, createdAt: '2026-11-01T00:00:00.000Z',
    connection: { status: 'backoff', message: 'connection refused', since: '2026-11-22T10:00:00.000Z', retryAt: '2026-11-22T10:00:30.000Z' },
  };
  const budget = { name: 'hpc', commandsLastMinute: 3, connectionsLastMinute: 1, connectionsPerMinuteCap: 2, pollIntervalMs: 30_000, lastPollAt: null, nextPollAt: null, paused: null };
  await clearPosted(h);
  await h.page.click('#tab-cluster');
  await h.waitFor(is('load', (m) => m.what === 'clusters'), 'a clusters load');
  await h.post({ type: 'clusters', overview: { clusters: [cluster], budgets: [budget] } });
  const load = await h.waitFor(is('load', (m) => m.what === 'partitions'), 'a partitions load');
  assert.equal(load.cluster, 'hpc');
  await h.post({
    type: 'partitions', cluster: 'hpc', at: '2026-11-22T10:00:00.000Z',
    partitions: [
      { name: 'debug', isDefault: true, avail: 'up', maxTimeSeconds: 3600, maxTimeUnlimited: false, defaultTimeSeconds: null, nodes: 4, nodesByState: { allocated: 1, idle: 2, other: 1, total: 4 }, cpusByState: { allocated: 4, idle: 8, other: 4, total: 16 }, minCpusPerNode: 4, maxCpusPerNode: 4, minMemoryPerNodeMb: 8000, maxMemoryPerNodeMb: 8000, gres: [], nodeLists: ['n[1-4]'], jobSize: '1-infinite' },
      { name: 'gpu', isDefault: false, avail: 'up', maxTimeSeconds: null, maxTimeUnlimited: true, defaultTimeSeconds: null, nodes: 2, nodesByState: { allocated: 2, idle: 0, other: 0, total: 2 }, cpusByState: null, minCpusPerNode: 32, maxCpusPerNode: 64, minMemoryPerNodeMb: 256000, maxMemoryPerNodeMb: 512000, gres: ['gpu:a100:4'], nodeLists: ['g[1-2]'], jobSize: null },
    ],
  });
  const text = await untilText(h, '.cluster-body', /Partitions/);
  await untilText(h, '.cluster-body', /debug \(default\)up1\/2\/1\/4/);
  assert.match(text, /backoff since .* · retry at /);
  assert.match(text, /connection refused/);
  assert.match(text, /3 SLURM command\(s\) and 1\/2 new connection\(s\) in the last minute · polling every 30 s/);
  const body = (await h.page.textContent('.cluster-body')) ?? '';
  assert.match(body, /gpuup2\/0\/0\/2—32–64256000 MBunlimitedgpu:a100:4g\[1-2\]/);
  const queued = JOBS.filter((j) => j.cluster === 'hpc' && !j.terminal).length;
  assert.match(body, new RegExp(`Your queue \\(${queued}\\)`));
  assert.match((await h.page.getAttribute('.cluster-body canvas', 'aria-label')) ?? '', /debug 1 allocated, 2 idle, 1 other; gpu 2 allocated, 0 idle, 0 other/);
  await h.page.screenshot({ path: path.join(artifactsDir, 'dashboard-cluster-dark.png') });
  await h.page.click('#tab-jobs');
});

test('the CSP was never violated and the page logged no error', async () => {
  assert.deepEqual(await h.violations(), []);
  assert.deepEqual(h.errors(), []);
});

function detailJob() {
  const j = JOBS[3]!;
  return {
    id: j.id, cluster: j.cluster, slurmJobId: j.slurmJobId, name: j.name, state: 'COMPLETED', terminal: true, reason: null,
    submitTime: j.submitTime, startTime: j.submitTime, endTime: j.submitTime, exitCode: 0, exitSignal: null,
    requested: { partition: 'gpu', qos: null, account: null, timeLimitSeconds: 600, nodes: 1, cpus: 1, tres: null },
    runDir: '/r', scriptPath: '/r/s', stdoutPath: null, stderrPath: null, progress: 100, array: null, resubmittedFrom: null,
    kind: j.kind, model: 'digits', modelVersion: 2, outputDir: null, finalized: true, createdAt: j.submitTime!, updatedAt: j.submitTime!,
  };
}
