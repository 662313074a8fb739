// Starts code-server with fresh directories, opens its workbench in headless
// Chromium with the payload that makes it load this extension in development
// mode and run the mocha suite in the extension host (VS Code's own browser
// integration tests use the same mechanism), and exits with the suite's
// status. code-server runs in its own process group, killed on every exit.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { format } from 'node:util';
import { enableSmokeTestDriver, launchChromium, repoRoot as root, startCodeServer, type CodeServer } from './codeServer';
import { buildSuite } from './suiteBuild';
import { ensureFinishedJobs, TEST_RUNTIME_ENV } from '../cluster/history';

const timeoutMs = Number(process.env.SLURM_ML_VSCODE_TIMEOUT_MS ?? 300_000);
// --vsix FILE: test the packaged extension (unpacked) instead of the working tree.
const vsixArg = process.argv.indexOf('--vsix');
const vsix = vsixArg >= 0 ? path.resolve(process.argv[vsixArg + 1] ?? '') : undefined;

async function main(): Promise<number> {
  const started = Date.now();
  const suite = await buildSuite();

  let server: CodeServer | undefined;
  let status = 1;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  try {
    // The suite retrains the cluster's runtime model: the daemon needs a history of finished jobs.
    await ensureFinishedJobs(undefined, (l) => console.log(`history: ${l}`));
    server = await startCodeServer({ env: TEST_RUNTIME_ENV });
    let extensionPath = root;
    if (vsix) {
      // A .vsix is a zip whose extension/ folder is the installed extension.
      const out = path.join(server.tmp, 'v');
      const r = spawnSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', vsix, out], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`cannot unpack ${vsix}`);
      extensionPath = path.join(out, 'extension');
    }
    browser = await launchChromium();
    const page = await browser.newPage();
    await enableSmokeTestDriver(page);
    let resolveExit: (code: number) => void = () => {};
    const exited = new Promise<number>((r) => (resolveExit = r));
    await page.exposeFunction('codeAutomationExit', (code: number) => resolveExit(code));
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      // Arguments as console.log got them: a format string first (mocha's reporter uses %s, %d).
      const text = format(...(Array.isArray(args) ? args : [args]));
      // The workbench's own chatter about services a test has no account for.
      if (/^\[(AgentHost|ChatModelSelection)\]/.test(text)) return;
      if (type === 'error') process.stderr.write(`${text}\n`);
      else process.stdout.write(`${text}\n`);
    });
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://${server.authority}${extensionPath}`],
      ['extensionTestsPath', `vscode-remote://${server.authority}${suite}`],
    ];
    const folder = path.join(root, 'test', 'demo');
    await page.goto(`${server.url}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const timer = new Promise<number>((r) => setTimeout(() => r(-1), timeoutMs));
    const code = await Promise.race([exited, timer]);
    if (code === -1) {
      console.error(`the suite did not finish within ${timeoutMs / 1000} s; code-server log: ${server.serverLog}`);
      await page.screenshot({ path: path.join(server.tmp, 'timeout.png') }).catch(() => undefined);
      return 1;
    }
    console.log(`vscode suite ${code === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    status = code;
    return code;
  } finally {
    await browser?.close().catch(() => undefined);
    const keep = status !== 0;
    await server?.stop({ keep });
    if (keep && server) console.log(`kept ${server.tmp} (code-server log: ${server.serverLog})`);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
