// UI tests in headless Chromium against code-server with the built .vsix
// installed, driven as a person would (clicks, the keyboard, the palette):
//
// - main: the Slurm ML container fills (its cluster comes from the
//   slurmMl.clusters setting), the sample script shows its estimate in a
//   CodeLens, a click on Submit puts the job in the Jobs view, Train Model…
//   is driven through its quick picks and inputs to the Submit step with the
//   estimate, the training becomes version 1, Promote… puts it in prod, and
//   Run Prediction… with digits@prod runs to COMPLETED;
// - crash: the daemon's Node exits at once: bounded restarts, then exactly
//   one message, and commands explain why they cannot run;
// - mismatch: a daemon of another protocol version: one message offering
//   Restart Daemon, which replaces it with a working daemon;
// - silent: a daemon that never answers: bounded restarts, one message;
// - hostkey: a cluster whose host key is unknown: Test Connection shows the
//   fingerprint in a modal, Trust connects and adds it to known_hosts;
// - password: a login by keyboard-interactive password (test/cluster/
//   extra-sshd.sh's sshd) and a key with a passphrase: password boxes, the
//   logins succeed, and neither secret is anywhere in the daemon's state
//   directory or the editor's data;
// - nodeless: no Node.js but the editor's own: code-server started by the
//   absolute path of its node with a PATH on which `node` resolves nowhere and
//   a fresh home. The user adds the test cluster through Add Cluster… (an
//   alias of ~/.ssh/config) and tests its connection over SSH, submits a
//   script, follows it to its end, opens its log from the notification, and
//   cancels a second job; the daemon the extension started runs on
//   code-server's node.
//
// Screenshots go to test-artifacts/ui/ (git-ignored). Usage:
//   node --import tsx test/vscode/ui.ts VSIX [scenario...]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { codeServerNode, daemonPids, launchChromium, pathWithoutNode, repoRoot, startCodeServer, type CodeServer } from './codeServer';

const vsix = path.resolve(process.argv[2] ?? path.join(repoRoot, 'slurm-ml.vsix'));
const all = ['main', 'nodeless', 'hostkey', 'password', 'crash', 'mismatch', 'silent'] as const;
type Scenario = (typeof all)[number];
const chosen = (process.argv.slice(3).length ? process.argv.slice(3) : [...all]) as Scenario[];
const artifacts = path.join(repoRoot, 'test-artifacts', 'ui');
const env = process.env;
const clusterName = 'slurmml';

class Failure extends Error {}
function check(ok: unknown, what: string): asserts ok {
  if (!ok) throw new Failure(what);
}

async function shot(page: Page, scenario: string, name: string): Promise<void> {
  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${scenario}-${name}.png`) });
}

/** Toasts currently shown, by their message text. */
async function toasts(page: Page): Promise<string[]> {
  return page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts();
}

/**
 * Copies a local file into the cluster user's home over SSH (as the demo does) and
 * returns its path there: the checkout need not be readable by the cluster's user.
 */
function uploadToCluster(c: { host?: string; port: number; user?: string; identityFile?: string; knownHostsFile?: string }, local: string, remote: string): string {
  const ssh = ['-p', String(c.port), '-i', c.identityFile ?? '', '-o', `UserKnownHostsFile=${c.knownHostsFile ?? ''}`, '-o', 'StrictHostKeyChecking=yes', `${c.user}@${c.host}`];
  const put = spawnSync('ssh', [...ssh, `mkdir -p "$(dirname ~/${remote})" && cat > ~/${remote} && echo $HOME`], { input: fs.readFileSync(local), encoding: 'utf8' });
  check(put.status === 0, `copying ${local} to the cluster: ${put.stderr}`);
  return `${put.stdout.trim()}/${remote}`;
}

async function waitToast(page: Page, re: RegExp, ms = 60_000): Promise<Locator> {
  const t = page.locator('.notifications-toasts .notification-toast').filter({ hasText: re }).first();
  await t.waitFor({ state: 'visible', timeout: ms });
  return t;
}

/** Runs a palette command by its title as the palette lists it. */
async function palette(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const box = page.locator('.quick-input-widget .quick-input-box input');
  await box.waitFor({ state: 'visible' });
  await box.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: title }).first();
  await row.waitFor({ state: 'visible' });
  await row.click();
}

/** Waits for a quick input step whose title matches, and returns its text box. */
async function step(page: Page, title: RegExp, ms = 30_000): Promise<Locator> {
  await page.locator('.quick-input-widget .quick-input-title').filter({ hasText: title }).first().waitFor({ state: 'visible', timeout: ms });
  return page.locator('.quick-input-widget .quick-input-box input');
}

/** Types into the current quick pick until the focused row is exactly `label`, then accepts it. */
async function choose(page: Page, title: RegExp, label: string): Promise<void> {
  const box = await step(page, title);
  await box.fill(label);
  const focused = page.locator('.quick-input-widget .monaco-list-row.focused .label-name').first();
  for (let i = 0; i < 20; i++) {
    const text = (await focused.innerText().catch(() => '')).trim();
    if (text === label) break;
    await page.keyboard.press('ArrowDown');
    await page.waitForTimeout(100);
  }
  check(((await focused.innerText()).trim()) === label, `the quick pick "${title}" offers ${label}`);
  await page.keyboard.press('Enter');
}

/** Steps through a workflow's template variables (from the template's header), accepting defaults except `values`. */
async function variables(page: Page, template: string, title: string, values: Record<string, string> = {}): Promise<void> {
  const text = fs.readFileSync(path.join(repoRoot, 'templates', `${template}.sbatch.hbs`), 'utf8');
  const header = JSON.parse(/\{\{!-- slurm-ml ([\s\S]*?) --\}\}/.exec(text)![1]!) as { variables: { name: string }[] };
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const v of header.variables) {
    const box = await step(page, new RegExp(`^${esc(title)}: ${v.name} \\(\\d+/${header.variables.length}\\)$`));
    if (values[v.name] !== undefined) await box.fill(values[v.name]!);
    await page.keyboard.press('Enter');
  }
}

async function openContainer(page: Page): Promise<void> {
  const icon = page.locator('.activitybar .action-item a[aria-label^="Slurm ML"]').first();
  await icon.waitFor({ state: 'visible', timeout: 60_000 });
  await icon.click();
}

async function workbench(server: CodeServer, folder: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${server.url}/?folder=${encodeURIComponent(folder)}`);
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  // The extension's contributions are registered (VS Code 1.139 shows the
  // workbench before that; a palette opened earlier lacks the commands).
  await page.locator('.activitybar .action-item a[aria-label^="Slurm ML"]').first().waitFor({ state: 'visible', timeout: 60_000 });
  return { page, close: () => browser.close() };
}

function workspace(tmp: string): string {
  // A copy: the workspace is the user's, the test writes and trains in it.
  const dir = path.join(tmp, 'w');
  fs.cpSync(path.join(repoRoot, 'test', 'demo'), dir, { recursive: true });
  return dir;
}

/** Files of the .vsix (a zip) under extension/. */
function vsixFiles(file: string): Set<string> {
  const r = spawnSync('python3', ['-c', 'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot list ${file}: ${r.stderr}`);
  return new Set(r.stdout.split('\n').filter((f) => f.startsWith('extension/')).map((f) => f.slice('extension/'.length)));
}

// ------------------------------------------------------------------ scenarios

async function main(): Promise<void> {
  const cluster = { name: clusterName, host: env.SLURM_ML_TEST_HOST, port: Number(env.SLURM_ML_TEST_PORT), user: env.SLURM_ML_TEST_USER, identityFile: env.SLURM_ML_TEST_IDENTITY, knownHostsFile: env.SLURM_ML_TEST_KNOWN_HOSTS };
  check(cluster.host, 'source /var/tmp/slurm-ml-cluster/env.sh (test/cluster/up.sh) first');
  const server = await startCodeServer({ vsix, settings: { 'slurmMl.clusters': [cluster], 'slurmMl.defaultCluster': clusterName, 'slurmMl.notifications': 'all' } });
  let ok = false;
  const { page, close } = await workbench(server, workspace(server.tmp)).catch(async (e) => {
    await server.stop({ keep: true });
    throw e;
  });
  try {
    // What the manifest points at is in the package: the walkthrough's pages, icons, grammar.
    const files = vsixFiles(vsix);
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { contributes: { walkthroughs: { steps: { media: { markdown: string } }[] }[] } };
    for (const step of manifest.contributes.walkthroughs[0]!.steps) check(files.has(step.media.markdown), `the .vsix holds ${step.media.markdown}`);
    for (const f of ['media/walkthrough/hello.sbatch', 'media/sbatch.tmLanguage.json', 'media/slurm-ml.svg', 'dist/extension.js', 'dist/daemon.js']) check(files.has(f), `the .vsix holds ${f}`);
    await palette(page, 'Slurm ML: Get Started');
    await page.getByText('Get started with Slurm ML').first().waitFor({ state: 'visible', timeout: 30_000 });
    await page.getByText('Submit the sample script').first().waitFor({ state: 'visible' });
    // The step's page (media/walkthrough/addCluster.md) is rendered in a webview.
    await page.frameLocator('.getting-started-media iframe').frameLocator('iframe').getByText('Slurm ML reaches your cluster the way').first().waitFor({ state: 'visible', timeout: 30_000 });
    await shot(page, 'main', '00-walkthrough');

    await openContainer(page);
    const clusterRow = page.locator('.pane[aria-label*="Clusters"], .pane').locator('.monaco-list-row').filter({ hasText: clusterName }).first();
    await clusterRow.waitFor({ state: 'visible', timeout: 60_000 });
    await shot(page, 'main', '01-container');

    // The sample script: its estimate in a CodeLens, then Submit from there.
    await palette(page, 'Slurm ML: Open Sample Script');
    const lens = page.locator('.codelens-decoration a').filter({ hasText: /Submit/ }).first();
    await lens.waitFor({ state: 'visible', timeout: 60_000 });
    const lensText = await page.locator('.codelens-decoration').first().innerText();
    check(/^(≈ .*|no estimate) · .*Submit$/.test(lensText.trim()), `the CodeLens reads like an estimate: ${lensText}`);
    await shot(page, 'main', '02-codelens');
    await lens.click();
    const jobRow = page.locator('.monaco-list-row').filter({ hasText: 'hello-slurm-ml' }).first();
    await jobRow.waitFor({ state: 'visible', timeout: 60_000 });
    await waitToast(page, /Job hello-slurm-ml \(#\d+\) on slurmml completed\./, 120_000);
    await shot(page, 'main', '03-jobs');

    // Train Model…, every step through the quick input.
    await palette(page, 'Slurm ML: Train Model…');
    const name = await step(page, /Train Model: model name/);
    await name.fill('digits');
    await page.keyboard.press('Enter');
    await choose(page, /Train Model: entrypoint/, 'ml/train.py');
    await choose(page, /Train Model: config/, 'ml/config.json');
    await variables(page, 'train', 'Train Model', { time: '5' });
    await step(page, /Train digits: submit to slurmml\?/);
    const submit = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'Submit' }).first();
    await submit.filter({ hasText: /≈|no estimate/ }).waitFor({ state: 'visible', timeout: 60_000 });
    const detail = await submit.innerText();
    check(/≈ /.test(detail), `the Submit step shows the estimate: ${detail}`);
    await shot(page, 'main', '04-train-submit');
    await page.keyboard.press('Enter');
    await waitToast(page, /submitted training digits/);
    // The version exists once the job ended COMPLETED and its results were collected.
    await waitToast(page, /Job train-digits \(#\d+\) on slurmml completed\./, 180_000);
    const modelRow = page.locator('.monaco-list-row').filter({ hasText: /^digits/ }).first();
    await modelRow.waitFor({ state: 'visible', timeout: 120_000 });

    // Promote…: model, version, alias.
    await palette(page, 'Slurm ML: Promote…');
    await choose(page, /Promote: model/, 'digits');
    await choose(page, /Promote: digits version/, 'v1');
    await step(page, /Promote digits v1: alias/);
    await page.keyboard.press('Enter'); // prod
    await waitToast(page, /digits@prod → v1/);
    await modelRow.click();
    await page.locator('.monaco-list-row').filter({ hasText: /v1.*prod|prod.*v1/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await shot(page, 'main', '05-promoted');

    // Run Prediction… with the prod version, on an input the cluster can read.
    await palette(page, 'Slurm ML: Run Prediction…');
    await choose(page, /Run Prediction: model/, 'digits');
    await choose(page, /Run Prediction: version/, 'digits@prod');
    const input = await step(page, /Run Prediction with digits@prod: input/);
    await input.fill(uploadToCluster(cluster, path.join(repoRoot, 'test', 'demo', 'ml', 'inputs', 'sample.csv'), 'slurm-ml-ui/sample.csv'));
    await page.keyboard.press('Enter');
    await choose(page, /entrypoint/, 'ml/predict.py');
    await choose(page, /config/, '(no config)');
    await variables(page, 'predict', 'Run Prediction with digits@prod', { time: '5' });
    await step(page, /Predict with digits@prod: submit to slurmml\?/);
    await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'Submit' }).filter({ hasText: /≈|no estimate/ }).first().waitFor({ state: 'visible', timeout: 60_000 });
    await page.keyboard.press('Enter');
    await waitToast(page, /submitted prediction with digits@prod/);
    await waitToast(page, /Job predict-digits-v1 \(#\d+\) on slurmml completed\./, 180_000);
    // The Jobs view moved it out of Active (only notifications move it).
    await page.locator('.monaco-list-row').filter({ hasText: /^Active\s*0$/ }).first().waitFor({ state: 'visible', timeout: 10_000 });
    await shot(page, 'main', '06-predicted');
    const status = await page.locator('.statusbar-item').filter({ hasText: 'Slurm ML' }).first().innerText();
    check(/Slurm ML/.test(status), 'the status bar item is shown');
    ok = true;
  } catch (err) {
    await shot(page, 'main', 'failure').catch(() => undefined);
    throw err;
  } finally {
    await close();
    await server.stop({ keep: !ok });
  }
}

/** Only the editor's own Node: the extension installed from the .vsix starts its daemon on it and works end to end. */
async function nodeless(): Promise<void> {
  check(env.SLURM_ML_TEST_HOST, 'source /var/tmp/slurm-ml-cluster/env.sh (test/cluster/up.sh) first');
  const work = fs.mkdtempSync('/tmp/smn-');
  const bin = pathWithoutNode(path.join(work, 'bin'));
  check(spawnSync('/bin/sh', ['-c', 'command -v node'], { env: { PATH: bin } }).status !== 0, 'node resolves nowhere on the PATH given to code-server');
  // A fresh home whose ~/.ssh/config knows the cluster, as a user's would.
  const home = path.join(work, 'home');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(
    path.join(home, '.ssh', 'config'),
    [`Host testcluster`, `  HostName ${env.SLURM_ML_TEST_HOST}`, `  Port ${env.SLURM_ML_TEST_PORT}`, `  User ${env.SLURM_ML_TEST_USER}`, `  IdentityFile ${env.SLURM_ML_TEST_IDENTITY}`, `  UserKnownHostsFile ${env.SLURM_ML_TEST_KNOWN_HOSTS}`, ''].join('\n'),
    { mode: 0o600 },
  );
  const server = await startCodeServer({ vsix, env: { PATH: bin, HOME: home }, settings: { 'slurmMl.defaultCluster': clusterName, 'slurmMl.notifications': 'all' } });
  let ok = false;
  const folder = workspace(server.tmp);
  fs.writeFileSync(path.join(folder, 'sleepy.sbatch'), '#!/bin/bash\n#SBATCH --job-name=sleepy\n#SBATCH --time=5\nsleep 300\n');
  const { page, close } = await workbench(server, folder).catch(async (e) => {
    await server.stop({ keep: true });
    throw e;
  });
  try {
    await openContainer(page);
    await page.locator('.pane').filter({ hasText: 'No cluster yet' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    // The daemon runs on code-server's node: the editor's own runtime, nothing else was there to run it.
    const pid = daemonPids(server.dirs.state)[0];
    check(pid, 'the extension started a daemon');
    check(fs.realpathSync(`/proc/${pid}/exe`) === fs.realpathSync(codeServerNode()), `the daemon runs on code-server's node (${fs.realpathSync(`/proc/${pid}/exe`)})`);
    const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    check(/\/@libsql\/[^/]+\/index\.node$/m.test(maps), 'its SQLite binding (libsql) loaded there');

    // Add Cluster…: by the ~/.ssh/config alias, then Test Connection over SSH.
    await palette(page, 'Slurm ML: Add Cluster…');
    const name = await step(page, /^Add Cluster/);
    await name.fill(clusterName);
    await page.keyboard.press('Enter');
    await choose(page, /Add Cluster \(2\/3\): how to reach it/, 'SSH alias');
    const alias = await step(page, /^Add Cluster \(3\/3\)$/);
    await alias.fill('testcluster');
    await page.keyboard.press('Enter');
    const added = await waitToast(page, new RegExp(`cluster ${clusterName} added`));
    await added.locator('.monaco-button').filter({ hasText: 'Test Connection' }).click();
    await waitToast(page, new RegExp(`${clusterName} answers as ${env.SLURM_ML_TEST_USER}`), 120_000);
    await page.locator('.part.sidebar .monaco-list-row').filter({ hasText: clusterName }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await shot(page, 'nodeless', '01-cluster');

    // Submit the workspace's hello.sbatch; follow it to its end; its log from the notification.
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget .quick-input-box input').fill('hello.sbatch');
    await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'hello.sbatch' }).first().waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
    await page.locator('.monaco-editor .view-lines').filter({ hasText: 'hello-slurm-ml' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await palette(page, 'Slurm ML: Submit Current Script');
    // Rows of the side bar's views (notifications are list rows too).
    const rows = page.locator('.part.sidebar .monaco-list-row');
    await rows.filter({ hasText: 'hello-slurm-ml' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    const done = await waitToast(page, new RegExp(`Job hello-slurm-ml \\(#\\d+\\) on ${clusterName} completed\\.`), 120_000);
    await done.locator('.monaco-button').filter({ hasText: 'Show Log' }).click();
    // The Output panel shows what the job printed, read from the cluster.
    // (The script in the editor says "$SLURM_JOB_ID", the log the job's number;
    // the editor renders spaces as no-break spaces, which \s matches.)
    const output = page.locator('.monaco-editor .view-lines');
    await output.filter({ hasText: /hello\sfrom\sjob\s\d+\son\s/ }).first().waitFor({ state: 'visible', timeout: 60_000 });
    await output.filter({ hasText: /step\s3\sof\s3/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await shot(page, 'nodeless', '02-log');

    // A second job, cancelled from the palette while it runs.
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget .quick-input-box input').fill('sleepy.sbatch');
    await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'sleepy.sbatch' }).first().waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
    await page.locator('.monaco-editor .view-lines').filter({ hasText: 'sleep 300' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await palette(page, 'Slurm ML: Submit Current Script');
    await rows.filter({ hasText: /sleepy.*RUNNING/ }).first().waitFor({ state: 'visible', timeout: 90_000 });
    await palette(page, 'Slurm ML: Cancel Job…');
    await choose(page, /Cancel Job: job/, 'sleepy');
    await waitToast(page, /cancel sent for sleepy/);
    await waitToast(page, new RegExp(`Job sleepy \\(#\\d+\\) on ${clusterName} ended CANCELLED`), 90_000);
    // It left Active for Recent, as CANCELLED.
    await rows.filter({ hasText: /^Active\s*0$/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
    const recent = rows.filter({ hasText: /^Recent\s*\d+$/ }).first();
    if ((await recent.getAttribute('aria-expanded')) !== 'true') await recent.click();
    await rows.filter({ hasText: /sleepy.*CANCELLED/ }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await shot(page, 'nodeless', '03-cancelled');
    // Still the same daemon, on the same node.
    check(daemonPids(server.dirs.state)[0] === pid, 'the daemon kept running');
    ok = true;
  } catch (err) {
    await shot(page, 'nodeless', 'failure').catch(() => undefined);
    throw err;
  } finally {
    await close();
    await server.stop({ keep: !ok });
    if (ok) fs.rmSync(work, { recursive: true, force: true });
  }
}

/** An unknown host key, trusted through the editor's modal. */
async function hostkey(): Promise<void> {
  const server = await startCodeServer({ vsix });
  const knownHosts = path.join(server.tmp, 'known_hosts');
  fs.writeFileSync(knownHosts, '');
  const cluster = { name: 'newcluster', host: env.SLURM_ML_TEST_HOST, port: Number(env.SLURM_ML_TEST_PORT), user: env.SLURM_ML_TEST_USER, identityFile: env.SLURM_ML_TEST_IDENTITY, knownHostsFile: knownHosts };
  // Written after the start so that the path can live in this run's directory.
  fs.writeFileSync(path.join(server.dirs.data, 'User', 'settings.json'), JSON.stringify({ 'security.workspace.trust.enabled': false, 'workbench.startupEditor': 'none', 'slurmMl.clusters': [cluster] }));
  let ok = false;
  const { page, close } = await workbench(server, path.join(repoRoot, 'test', 'demo'));
  try {
    await openContainer(page);
    await page.locator('.monaco-list-row').filter({ hasText: 'newcluster' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    await palette(page, 'Slurm ML: Test Cluster Connection…');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 60_000 });
    const text = await dialog.innerText();
    check(text.includes(env.SLURM_ML_TEST_HOSTKEY_FP ?? 'SHA256:'), `the modal shows the server's fingerprint: ${text}`);
    check(fs.readFileSync(knownHosts, 'utf8') === '', 'nothing is trusted before the answer');
    await shot(page, 'hostkey', '01-fingerprint');
    await dialog.locator('.monaco-button').filter({ hasText: /^Trust$/ }).click();
    await waitToast(page, /newcluster answers as /, 60_000);
    check(fs.readFileSync(knownHosts, 'utf8').trim().length > 0, 'Trust added the key to known_hosts');
    await shot(page, 'hostkey', '02-connected');
    ok = true;
  } catch (err) {
    await shot(page, 'hostkey', 'failure').catch(() => undefined);
    throw err;
  } finally {
    await close();
    await server.stop({ keep: !ok });
  }
}

/** A password asked in a password box, used once, stored nowhere. */
async function password(): Promise<void> {
  const extra = path.join(path.dirname(env.SLURM_ML_TEST_IDENTITY ?? '/var/tmp/slurm-ml-cluster/ssh/x'), '..', 'extra-env.sh');
  check(fs.existsSync(extra), `${extra} missing: run test/cluster/extra-sshd.sh`);
  const x = Object.fromEntries([...fs.readFileSync(extra, 'utf8').matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]));
  const secret = x.SLURM_ML_TEST_KBD_PASSWORD!;
  const passphrase = x.SLURM_ML_TEST_PASSPHRASE!;
  const cluster = { name: 'kbd', host: '127.0.0.1', port: Number(x.SLURM_ML_TEST_KBD_PORT), user: x.SLURM_ML_TEST_KBD_USER, knownHostsFile: x.SLURM_ML_TEST_EXTRA_KNOWN_HOSTS };
  const keyed = { name: 'pp', host: env.SLURM_ML_TEST_HOST, port: Number(env.SLURM_ML_TEST_PORT), user: env.SLURM_ML_TEST_USER, identityFile: x.SLURM_ML_TEST_PASSPHRASE_IDENTITY, knownHostsFile: env.SLURM_ML_TEST_KNOWN_HOSTS };
  const server = await startCodeServer({ vsix, settings: { 'slurmMl.clusters': [cluster, keyed] } });
  let ok = false;
  const { page, close } = await workbench(server, path.join(repoRoot, 'test', 'demo'));
  try {
    await openContainer(page);
    await page.locator('.monaco-list-row').filter({ hasText: 'kbd' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    await page.locator('.monaco-list-row').filter({ hasText: 'pp' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    await palette(page, 'Slurm ML: Test Cluster Connection…');
    await choose(page, /Test Connection: cluster/, 'kbd');
    const box = page.locator('.quick-input-widget .quick-input-box input');
    await page.locator('.quick-input-widget .quick-input-title').filter({ hasText: /kbd|[Pp]assword/ }).first().waitFor({ state: 'visible', timeout: 60_000 });
    check((await box.getAttribute('type')) === 'password', 'the answer is typed into a password box');
    await shot(page, 'password', '01-prompt');
    await box.fill(secret);
    await page.keyboard.press('Enter');
    await waitToast(page, new RegExp(`kbd answers as ${cluster.user}`), 60_000);
    await shot(page, 'password', '02-connected');
    // A key with a passphrase: asked the same way.
    await palette(page, 'Slurm ML: Test Cluster Connection…');
    await choose(page, /Test Connection: cluster/, 'pp');
    await page.locator('.quick-input-widget .quick-input-box input[type="password"]').waitFor({ state: 'visible', timeout: 60_000 });
    await shot(page, 'password', '03-passphrase');
    await page.locator('.quick-input-widget .quick-input-box input').fill(passphrase);
    await page.keyboard.press('Enter');
    await waitToast(page, new RegExp(`pp answers as ${keyed.user}`), 60_000);
    // Nothing typed is stored or logged: not in the daemon's files, not in the editor's settings.
    const leaks: string[] = [];
    const scan = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) scan(p);
        else if (e.isFile() && [secret, passphrase].some((x) => fs.readFileSync(p).includes(x))) leaks.push(p);
      }
    };
    scan(server.dirs.state);
    scan(server.dirs.data);
    check(leaks.length === 0, `the password and passphrase are not stored: found in ${leaks.join(', ')}`);
    ok = true;
  } catch (err) {
    await shot(page, 'password', 'failure').catch(() => undefined);
    throw err;
  } finally {
    await close();
    await server.stop({ keep: !ok });
  }
}

/** Broken daemons: the workbench must say what is wrong once, and stay usable. */
async function broken(scenario: 'crash' | 'mismatch' | 'silent'): Promise<void> {
  let fake: ChildProcess | undefined;
  const settings: Record<string, unknown> = {};
  if (scenario === 'crash') {
    const script = path.join('/tmp', `crash-node-${process.pid}.sh`);
    fs.writeFileSync(script, '#!/bin/sh\necho "this node crashes on purpose" >&2\nexit 1\n', { mode: 0o755 });
    settings['slurmMl.nodePath'] = script;
  }
  const server = await startCodeServer({
    vsix,
    settings,
    prepareState: async (stateDir) => {
      if (scenario === 'crash') return;
      fake = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/vscode/fakeDaemon.ts'), stateDir, scenario], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
      const deadline = Date.now() + 20_000;
      while (!fs.existsSync(path.join(stateDir, 'daemon.json'))) {
        if (Date.now() > deadline || fake.exitCode !== null) throw new Error('the fake daemon did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  });
  let ok = false;
  const { page, close } = await workbench(server, path.join(repoRoot, 'test', 'demo'));
  try {
    await openContainer(page);
    if (scenario === 'mismatch') {
      const t = await waitToast(page, /speaks another protocol version/);
      await shot(page, scenario, '01-message');
      await t.locator('.monaco-button').filter({ hasText: 'Restart Daemon' }).click();
      // The fake is stopped by its pid and a real daemon (from the .vsix) takes over.
      await page.locator('.pane').filter({ hasText: 'No cluster yet' }).first().waitFor({ state: 'visible', timeout: 60_000 });
      check(fake?.exitCode !== null || fake?.signalCode !== null, 'the old daemon was stopped');
      await shot(page, scenario, '02-restarted');
      check((await toasts(page)).filter((x) => /protocol version/.test(x)).length <= 1, 'one message about the mismatch');
    } else {
      const giveUp = /could not be kept running/;
      await waitToast(page, giveUp, scenario === 'silent' ? 120_000 : 60_000);
      const message = (await toasts(page)).find((x) => giveUp.test(x))!;
      check(scenario === 'crash' ? /exited at start/.test(message) : /no answer within 10 s/.test(message), `the message says why: ${message}`);
      await shot(page, scenario, '01-message');
      // Give a runaway restart loop the time to show itself.
      await page.waitForTimeout(8_000);
      const count = (await toasts(page)).filter((x) => giveUp.test(x)).length;
      check(count === 1, `exactly one give-up message (saw ${count})`);
      await page.locator('.pane').filter({ hasText: 'The Slurm ML daemon is not running.' }).first().waitFor({ state: 'visible', timeout: 10_000 });
      // Commands still exist and explain why they cannot run.
      await palette(page, 'Slurm ML: Show Job Log…');
      await waitToast(page, /cannot run "Show Job Log…": the Slurm ML daemon is not running/, 15_000);
      await shot(page, scenario, '02-command-explains');
    }
    ok = true;
  } catch (err) {
    await shot(page, scenario, 'failure').catch(() => undefined);
    throw err;
  } finally {
    await close();
    fake?.kill('SIGTERM');
    await server.stop({ keep: !ok });
  }
}

async function run(): Promise<number> {
  check(fs.existsSync(vsix), `${vsix} missing: npm run package first`);
  fs.rmSync(artifacts, { recursive: true, force: true });
  let failed = 0;
  for (const s of chosen) {
    const started = Date.now();
    try {
      if (s === 'main') await main();
      else if (s === 'nodeless') await nodeless();
      else if (s === 'hostkey') await hostkey();
      else if (s === 'password') await password();
      else await broken(s);
      console.log(`ok ${s} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed++;
      console.error(`FAILED ${s}: ${err instanceof Failure ? err.message : err instanceof Error ? err.stack : err}`);
    }
  }
  console.log(`ui: ${chosen.length - failed}/${chosen.length} scenarios passed; screenshots in ${path.relative(repoRoot, artifacts)}/`);
  return failed ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
run().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
