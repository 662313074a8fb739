// The extension in a real VS Code, timed. Activation: code-server with fresh
// directories and its own daemon state directory, the built extension loaded
// in development mode, headless Chromium as the workbench client. The
// extension logs the time its activate() took and when its daemon answered
// (a cold start of the daemon: fresh state directory); both are read from its
// log file. Each run is a fresh code-server; the median of the runs is the figure.
// Typing: how soon after a keystroke (typing then pauses) the editor shows the
// daemon's verdict on the script: a `--time` made invalid gets its error
// squiggle, and loses it when fixed (debounce, request, diagnostics, render).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ESTIMATE_DEBOUNCE_MS } from '../../extension/model/estimates';
import { loadClusterEnv } from '../integration/clusterEnv';
import { enableSmokeTestDriver, launchChromium, repoRoot, startCodeServer } from '../vscode/codeServer';
import { row, type BenchPart } from './parts';
import { median } from './util';

export const ACTIVATION_GOAL_MS = 100;
/** The bound for the estimate's refresh after typing pauses. */
export const TYPING_GOAL_MS = 150;

export interface ActivationRun {
  /** activate() from its first line to its return. */
  activateMs: number;
  /** From activate() to the daemon's initialize answer (the daemon started cold). */
  daemonReadyMs: number;
}

/** Every *.log file under dir. */
function logFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...logFiles(p));
    else if (e.name.endsWith('.log')) out.push(p);
  }
  return out;
}

/** One cold activation: its activate() time and the time to a connected daemon, in ms. */
export async function activationRun(timeoutMs = 90_000): Promise<ActivationRun> {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'extension.js'))) throw new Error('dist/extension.js missing: npm run build first');
  const server = await startCodeServer();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await enableSmokeTestDriver(page);
    const payload = [['extensionDevelopmentPath', `vscode-remote://${server.authority}${repoRoot}`]];
    await page.goto(`${server.url}/?folder=${encodeURIComponent(path.join(repoRoot, 'test', 'demo'))}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const f of logFiles(server.dirs.data)) {
        const text = fs.readFileSync(f, 'utf8');
        const a = /activated in ([\d.]+) ms/.exec(text);
        const r = /daemon ready (\d+) ms after activation/.exec(text);
        if (a && r) return { activateMs: Number(a[1]), daemonReadyMs: Number(r[1]) };
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    throw new Error(`the extension did not log its activation within ${timeoutMs / 1000} s (code-server log: ${server.serverLog})`);
  } finally {
    await browser.close();
    await server.stop();
  }
}

/** The median activate() time over `runs` cold starts, in ms (the bench's figure). */
export async function measureActivation(runs = 3): Promise<number> {
  const r: number[] = [];
  for (let i = 0; i < runs; i++) r.push((await activationRun()).activateMs);
  return median(r);
}

export interface TypingFigures {
  /** Keystroke to the error squiggle of the daemon's diagnostic, per run. */
  errorMs: number[];
  /** Keystroke (the fix) to the squiggle gone, per run. */
  clearMs: number[];
}

/**
 * Types into an sbatch script in the workbench (headless Chromium) and times
 * each keystroke until the editor shows the daemon's diagnostic, and until
 * it is gone after the fix. Needs the local cluster (estimates need one).
 */
export async function typingRuns(runs = 7): Promise<TypingFigures> {
  const c = loadClusterEnv();
  const cluster = { name: 'local', host: c.host, port: c.port, user: c.user, identityFile: c.identityFile, knownHostsFile: c.knownHostsFile };
  const server = await startCodeServer({ settings: { 'slurmMl.clusters': [cluster], 'slurmMl.defaultCluster': 'local', 'slurmMl.notifications': 'none' } });
  const browser = await launchChromium();
  try {
    const folder = path.join(server.tmp, 'w');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'typing.sbatch'), '#!/bin/bash\n#SBATCH --job-name=typing\n#SBATCH --time=10\necho hi\n');
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await enableSmokeTestDriver(page);
    const payload = [['extensionDevelopmentPath', `vscode-remote://${server.authority}${repoRoot}`]];
    await page.goto(`${server.url}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget .quick-input-box input').fill('typing.sbatch');
    await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: 'typing.sbatch' }).first().click();
    // The first estimate needs the daemon, the cluster's session and its accounting: wait for the CodeLens.
    await page.locator('.codelens-decoration').filter({ hasText: /≈|no estimate/ }).first().waitFor({ timeout: 120_000 });
    await page.locator('.view-line').filter({ hasText: '#SBATCH --time=10' }).first().click();
    await page.keyboard.press('End');
    const squiggles = () => document.querySelectorAll('.squiggly-error').length;
    const f: TypingFigures = { errorMs: [], clearMs: [] };
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      await page.keyboard.type('x'); // --time=10x: sbatch refuses it
      await page.waitForFunction((fn) => new Function(`return (${fn})()`)() > 0, squiggles.toString(), { polling: 'raf', timeout: 10_000 });
      f.errorMs.push(Math.round(performance.now() - t));
      t = performance.now();
      await page.keyboard.press('Backspace');
      await page.waitForFunction((fn) => new Function(`return (${fn})()`)() === 0, squiggles.toString(), { polling: 'raf', timeout: 10_000 });
      f.clearMs.push(Math.round(performance.now() - t));
    }
    return f;
  } finally {
    await browser.close();
    await server.stop();
  }
}

export const activationPart: BenchPart = {
  name: 'activation',
  async run(ctx) {
    const runs: ActivationRun[] = [];
    for (let i = 0; i < 3; i++) {
      ctx.progress(`activation: code-server run ${i + 1} of 3`);
      runs.push(await activationRun());
    }
    const activate = median(runs.map((r) => r.activateMs));
    const ready = median(runs.map((r) => r.daemonReadyMs));
    let typing: TypingFigures | undefined;
    const notes: string[] = [];
    if (ctx.useCluster) {
      ctx.progress('activation: typing into an sbatch script until the diagnostic shows');
      typing = await typingRuns();
    } else notes.push('activation: typing figure skipped (--no-cluster: estimates need a cluster)');
    const typingRows = typing
      ? [
          row('sbatch diagnostic after a keystroke', median(typing.errorMs), {
            unit: 'ms',
            goal: `≤ ${TYPING_GOAL_MS} ms`,
            met: median(typing.errorMs) <= TYPING_GOAL_MS,
            source: 'code-server',
            note: `keystroke to the error squiggle in Chromium (${ESTIMATE_DEBOUNCE_MS} ms debounce, runtime/estimate, diagnostics, render), median of ${typing.errorMs.length} [${typing.errorMs.join(', ')}]; cleared after the fix: median ${median(typing.clearMs)} ms`,
          }),
        ]
      : [];
    return {
      notes,
      rows: [
        ...typingRows,
        row('extension activation (activate())', activate, {
          unit: 'ms',
          goal: `≤ ${ACTIVATION_GOAL_MS} ms`,
          met: activate <= ACTIVATION_GOAL_MS,
          source: 'code-server',
          note: `median of ${runs.length} fresh code-servers [${runs.map((r) => r.activateMs).join(', ')}]; the daemon answered ${ready} ms after activation (started cold, not awaited by activate)`,
        }),
      ],
      json: { runs, activateMedianMs: activate, daemonReadyMedianMs: ready, goalMs: ACTIVATION_GOAL_MS, typing: typing ?? null, typingGoalMs: TYPING_GOAL_MS },
    };
  },
};
