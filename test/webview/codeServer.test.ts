// The dashboard in code-server with the packaged extension (.vsix) installed,
// driven in headless Chromium as a person would: the palette's Open Dashboard
// shows the jobs of the real cluster inside the editor's webview, a job
// submitted meanwhile appears without a reload, and the page follows the
// editor from a dark to a light theme; a running job is cancelled from its
// detail pane (through the editor's confirmation) and resubmitted from there
// (through the editor's quick pick), both on the real cluster.
// Screenshots: test-artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { connectToRunningDaemon, type ConnectedDaemon } from '../../daemon/client';
import { ErrorCode, JobsCancel, JobsGet, JobsList, JobsSubmit, type JobInfo } from '../../daemon/protocol';
import { statePaths } from '../../daemon/state';
import { loadClusterEnv } from '../integration/clusterEnv';
import { launchChromium, startCodeServer, type CodeServer } from '../vscode/codeServer';
import { until } from '../vscode/until';
import { artifactsDir, repoRoot } from './harness';

const clusterName = 'dash';
let server: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page;
let daemon: ConnectedDaemon | undefined;
let ok = false;

/** Packages the extension as `npm run package` does, into a file of this run. */
function packageVsix(dir: string): string {
  const out = path.join(dir, 'slurm-ml.vsix');
  const pack = spawnSync(process.execPath, ['scripts/package.mjs', '--out', out], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr || pack.stdout);
  return out;
}

before(async () => {
  // code-server and chromium, installed once (a no-op when they are there).
  const install = spawnSync('bash', [path.join(repoRoot, 'test', 'vscode', 'install.sh')], { stdio: 'inherit' });
  assert.equal(install.status, 0, 'test/vscode/install.sh installs code-server');
  const env = loadClusterEnv();
  fs.mkdirSync(artifactsDir, { recursive: true });
  const work = fs.mkdtempSync('/tmp/smd-');
  const vsix = packageVsix(work);
  const cluster = { name: clusterName, host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile };
  server = await startCodeServer({ vsix, settings: { 'slurmMl.clusters': [cluster], 'slurmMl.defaultCluster': clusterName, 'workbench.colorTheme': 'Default Dark Modern' } });
  fs.rmSync(work, { recursive: true, force: true });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const folder = path.join(server.tmp, 'w');
  fs.cpSync(path.join(repoRoot, 'test', 'demo'), folder, { recursive: true });
  await page.goto(`${server.url}/?folder=${encodeURIComponent(folder)}`);
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  // The extension starts its daemon; this test is another client of it, as the CLI would be.
  const deadline = Date.now() + 90_000;
  while (!daemon && Date.now() < deadline) {
    daemon = (await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: server.dirs.state }), clientName: 'dashboard-ui-test' }).catch(() => null)) ?? undefined;
    if (!daemon) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(daemon, 'the extension started its daemon');
});

after(async () => {
  daemon?.rpc.close('done');
  await browser?.close();
  await server?.stop({ keep: !ok });
  // Back to the development build the other tests use.
  spawnSync(process.execPath, ['esbuild.mjs'], { cwd: repoRoot });
});

async function submit(name: string, body: string) {
  // The cluster comes from the settings: registered by the extension at start.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await daemon!.rpc.request(JobsSubmit, { cluster: clusterName, script: `#!/bin/bash\n${body}\n`, scriptName: `${name}.sbatch`, name }, { timeoutMs: 120_000 });
    } catch (err) {
      if (Date.now() > deadline || (err as { code?: number }).code !== ErrorCode.NotFound) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function palette(title: string): Promise<void> {
  await page.keyboard.press('F1');
  const box = page.locator('.quick-input-widget .quick-input-box input');
  await box.waitFor({ state: 'visible' });
  await box.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 30_000 });
  await row.click();
}

/** The dashboard's page: VS Code nests it in an iframe inside the webview's iframe. */
function dashboard(): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
}

test('Open Dashboard shows the real cluster\'s jobs in the editor; a job submitted meanwhile appears without a reload; the theme follows the editor', async () => {
  const before = await submit('dash-ui-before', 'echo before');
  await palette('Slurm ML: Open Dashboard');
  const d = dashboard();
  await d.locator(`.grid-body [role=row][data-id="${before.id}"]`).waitFor({ state: 'visible', timeout: 60_000 });
  const count = await d.locator('#job-count').innerText();
  assert.match(count, /^\d+ of \d+ jobs$/);
  const [shown, total] = count.match(/\d+/g)!.map(Number);
  assert.equal(shown, total);
  assert.ok(total! >= 1);
  // The page got its theme from the editor.
  assert.equal(await d.locator('body').getAttribute('class').then((c) => /vscode-dark/.test(c ?? '')), true);
  const reloadsBefore = await d.locator('body').evaluate(() => performance.getEntriesByType('navigation').length + ':' + performance.timeOrigin);
  await page.screenshot({ path: path.join(artifactsDir, 'dashboard-code-server-dark.png') });

  const after = await submit('dash-ui-after', 'sleep 1; echo after');
  const row = d.locator(`.grid-body [role=row][data-id="${after.id}"]`);
  await row.waitFor({ state: 'visible', timeout: 60_000 });
  assert.match(await row.innerText(), /dash-ui-after/);
  assert.equal(await d.locator('#job-count').innerText(), `${total! + 1} of ${total! + 1} jobs`);
  assert.equal(await d.locator('body').evaluate(() => performance.getEntriesByType('navigation').length + ':' + performance.timeOrigin), reloadsBefore, 'the same page: no reload');

  // Its detail pane: a click asks the extension, which asks the daemon.
  await row.click();
  await d.locator('#job-detail pre.script').filter({ hasText: 'echo after' }).waitFor({ state: 'visible', timeout: 60_000 });

  // The editor switches to a light theme (from the palette): the page follows without a reload.
  await palette('Preferences: Color Theme');
  const box = page.locator('.quick-input-widget .quick-input-box input');
  await box.fill('Light Modern');
  await page.locator('.quick-input-widget .monaco-list-row.focused').filter({ hasText: 'Light Modern' }).first().waitFor({ state: 'visible', timeout: 30_000 });
  await page.keyboard.press('Enter');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !/vscode-light/.test((await d.locator('body').getAttribute('class')) ?? '')) await page.waitForTimeout(200);
  assert.match((await d.locator('body').getAttribute('class')) ?? '', /vscode-light/);
  await page.waitForTimeout(500);
  assert.equal(await d.locator('body').evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(255, 255, 255)');
  await page.screenshot({ path: path.join(artifactsDir, 'dashboard-code-server-light.png') });
  ok = true;
});

test('Cancel and Resubmit in the detail pane act on the real cluster, through the editor\'s confirmation and quick pick', async () => {
  const job = await submit('dash-ui-cancel', '#SBATCH --time=10\nsleep 300');
  await palette('Slurm ML: Open Dashboard');
  const d = dashboard();
  const row = d.locator(`.grid-body [role=row][data-id="${job.id}"]`);
  await row.waitFor({ state: 'visible', timeout: 60_000 });
  await row.click();
  const cancel = d.locator('#job-detail vscode-button[data-action=cancel]');
  await cancel.waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await d.locator('#job-detail vscode-button[data-action=resubmit]').getAttribute('disabled'), '', 'Resubmit waits for the job to end');
  await cancel.click();
  // The editor asks first (a modal dialog of the workbench, not of the page).
  const dialog = page.locator('.monaco-dialog-box');
  await dialog.waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(await dialog.innerText(), new RegExp(`Cancel dash-ui-cancel \\(#${job.slurmJobId}\\) on ${clusterName}\\?`));
  await page.screenshot({ path: path.join(artifactsDir, 'dashboard-code-server-cancel.png') });
  await dialog.locator('.monaco-button').filter({ hasText: 'Cancel Job' }).click();
  await until('the row to read CANCELLED', async () => (/CANCELLED/.test(await row.innerText()) ? true : undefined), 60_000);
  assert.equal((await daemon!.rpc.request(JobsGet, { ref: job.id })).state, 'CANCELLED', 'the daemon saw SLURM cancel it');

  // Ended, the job can be resubmitted from the same pane.
  const resubmit = d.locator('#job-detail vscode-button[data-action=resubmit]:not([disabled])');
  await resubmit.waitFor({ state: 'visible', timeout: 30_000 });
  await resubmit.click();
  const same = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'Resubmit with the same options' }).first();
  await same.waitFor({ state: 'visible', timeout: 30_000 });
  await same.click();
  const again = await until('the resubmitted job', async () => {
    const { jobs } = await daemon!.rpc.request(JobsList, { cluster: clusterName, limit: 100 });
    return jobs.find((j: JobInfo) => j.name === 'dash-ui-cancel' && j.id !== job.id && j.slurmJobId !== null);
  }, 60_000);
  assert.notEqual(again.slurmJobId, job.slurmJobId, 'a new SLURM job');
  const newRow = d.locator(`.grid-body [role=row][data-id="${again.id}"]`);
  await newRow.waitFor({ state: 'visible', timeout: 60_000 });
  assert.doesNotMatch(await newRow.innerText(), /CANCELLED/);
  assert.match(await row.innerText(), /CANCELLED/, 'the first one stays as it ended');
  await page.screenshot({ path: path.join(artifactsDir, 'dashboard-code-server-resubmitted.png') });
  await daemon!.rpc.request(JobsCancel, { ref: again.id });
});
