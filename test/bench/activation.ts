// The extension's activation time in a real VS Code: code-server with fresh
// directories and its own daemon state directory, the built extension loaded
// in development mode, headless Chromium as the workbench client. The
// extension logs the time its activate() took and when its daemon answered
// (a cold start of the daemon: fresh state directory); both are read from its
// log file. Each run is a fresh code-server; the median of the runs is the figure.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchChromium, repoRoot, startCodeServer } from '../vscode/codeServer';
import { row, type BenchPart } from './parts';
import { median } from './util';

export const ACTIVATION_GOAL_MS = 100;

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
    return {
      rows: [
        row('extension activation (activate())', activate, {
          unit: 'ms',
          goal: `≤ ${ACTIVATION_GOAL_MS} ms`,
          met: activate <= ACTIVATION_GOAL_MS,
          source: 'code-server',
          note: `median of ${runs.length} fresh code-servers [${runs.map((r) => r.activateMs).join(', ')}]; the daemon answered ${ready} ms after activation (started cold, not awaited by activate)`,
        }),
      ],
      json: { runs, activateMedianMs: activate, daemonReadyMedianMs: ready, goalMs: ACTIVATION_GOAL_MS },
    };
  },
};
