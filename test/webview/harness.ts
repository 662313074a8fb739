// The BUILT dashboard page (dist/webview.js and dist/webview.css, as the
// extension serves them, with the same HTML and CSP) in headless Chromium.
// A small HTTP server stands in for the webview's resource origin; VS Code's
// `acquireVsCodeApi` is replaced by a recorder of what the page posts, and the
// editor's theme by its CSS variables and body class. Tests talk to the page
// only through its message interface, as the extension does.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dashboardHtml } from '../../webview/html';
import type { HostToWebview, JobRow, WebviewToHost } from '../../webview/protocol';
import { THEMES, type ThemeName } from './themes';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const artifactsDir = path.join(repoRoot, 'test-artifacts');

export const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

export interface PageHarness {
  page: Page;
  /** Sends a message as the extension would (webview.postMessage). */
  post(m: HostToWebview | Record<string, unknown>): Promise<void>;
  /** Everything the page posted so far. */
  posted(): Promise<WebviewToHost[]>;
  /** Waits for a message the page posts that satisfies `pred`. */
  waitFor<T extends WebviewToHost>(pred: (m: WebviewToHost) => m is T, what: string, timeoutMs?: number): Promise<T>;
  waitFor(pred: (m: WebviewToHost) => boolean, what: string, timeoutMs?: number): Promise<WebviewToHost>;
  /** Uncaught errors and console errors of the page. */
  errors(): string[];
  /** CSP violations the page reported. */
  violations(): Promise<string[]>;
  setTheme(t: ThemeName): Promise<void>;
  /** The state the page saved with setState. */
  savedState(): Promise<unknown>;
  close(): Promise<void>;
}

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Serves the built page; fails when it was not built. */
export async function serveDashboard(): Promise<Served> {
  const js = path.join(repoRoot, 'dist', 'webview.js');
  const css = path.join(repoRoot, 'dist', 'webview.css');
  for (const f of [js, css]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run npm run build first`);
  const server = http.createServer((req, res) => {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/' || req.url?.startsWith('/?')) {
      const nonce = crypto.randomBytes(16).toString('base64');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(dashboardHtml({ cspSource: origin, nonce, scriptUri: `${origin}/dist/webview.js`, styleUri: `${origin}/dist/webview.css` }));
      return;
    }
    const file = req.url === '/dist/webview.js' ? js : req.url === '/dist/webview.css' ? css : null;
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/css' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: chromiumArgs });
}

/** Opens the page with a theme and, optionally, the state VS Code would restore. */
export async function openDashboard(browser: Browser, url: string, opts: { theme?: ThemeName; state?: unknown; width?: number; height?: number } = {}): Promise<PageHarness> {
  const page = await browser.newPage({ viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 } });
  const theme = THEMES[opts.theme ?? 'dark'];
  // A string, not a function: the test runner's transpiler would add helpers the page lacks.
  await page.addInitScript(`(() => {
    const vars = ${JSON.stringify(theme.vars)};
    const bodyClass = ${JSON.stringify(theme.bodyClass)};
    // The test runner's transpiler names functions passed to page.evaluate with this helper.
    window.__name = window.__name || ((f) => f);
    const posted = [];
    const violations = [];
    window.__posted = posted;
    window.__violations = violations;
    window.__state = ${JSON.stringify(opts.state ?? null)};
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective + ': ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber + ':' + e.columnNumber));
    window.acquireVsCodeApi = () => ({
      postMessage: (m) => posted.push(JSON.parse(JSON.stringify(m))),
      getState: () => window.__state,
      setState: (s) => { window.__state = JSON.parse(JSON.stringify(s)); },
    });
    // As VS Code does: theme variables on <html>, the theme kind on <body>, before the page's script runs.
    const apply = () => {
      if (document.documentElement && !document.documentElement.dataset.themed) {
        document.documentElement.dataset.themed = '1';
        for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
      }
      if (document.body && !document.body.className) document.body.className = bodyClass;
      return document.documentElement && document.body;
    };
    if (!apply()) {
      const o = new MutationObserver(() => { if (apply()) o.disconnect(); });
      o.observe(document, { childList: true, subtree: true });
    }
  })();`);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.stack ?? e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/favicon/.test(m.location().url)) errors.push(m.text());
  });
  await page.goto(url);
  const h: PageHarness = {
    errors: () => errors.slice(),
    page,
    async post(m) {
      await page.evaluate((msg) => window.postMessage(msg, '*'), m);
    },
    posted: () => page.evaluate(() => (window as unknown as { __posted: WebviewToHost[] }).__posted.slice()),
    async waitFor(pred: (m: WebviewToHost) => boolean, what: string, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = (await h.posted()).find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for the page to post ${what}; it posted: ${JSON.stringify((await h.posted()).map((m) => m.type))}`);
    },
    violations: () => page.evaluate(() => (window as unknown as { __violations: string[] }).__violations.slice()),
    async setTheme(t) {
      const th = THEMES[t];
      await page.evaluate(({ vars, bodyClass }) => {
        for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
        document.body.className = bodyClass;
      }, th);
    },
    savedState: () => page.evaluate(() => (window as unknown as { __state: unknown }).__state),
    close: () => page.close(),
  };
  return h;
}

/** Clears what the page posted so far (to wait for what comes next). */
export async function clearPosted(h: PageHarness): Promise<void> {
  await h.page.evaluate(() => ((window as unknown as { __posted: unknown[] }).__posted.length = 0));
}

const STATES = ['PENDING', 'RUNNING', 'COMPLETED', 'COMPLETED', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY'] as const;
const KINDS = ['job', 'job', 'job', 'train', 'predict', 'evaluate'] as const;
const NAMES = ['resnet-sweep', 'preprocess', 'bert-finetune', 'eval-nightly', 'hello', 'digits', 'featurize', 'Alpha-run', 'zeta'];

/** `n` jobs over two clusters, every state and kind, newest first by submission; deterministic. */
export function syntheticJobs(n: number, seed = 1): JobRow[] {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const base = Date.parse('2026-11-01T00:00:00Z');
  const jobs: JobRow[] = [];
  for (let i = 0; i < n; i++) {
    const state = STATES[Math.floor(rnd() * STATES.length)]!;
    const terminal = state !== 'PENDING' && state !== 'RUNNING';
    const submit = base + i * 60_000;
    const start = state === 'PENDING' ? null : submit + Math.floor(rnd() * 600_000);
    const end = terminal && start !== null ? start + Math.floor(rnd() * 7_200_000) + 1000 : null;
    const kind = KINDS[Math.floor(rnd() * KINDS.length)]!;
    const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    jobs.push({
      id,
      cluster: i % 3 === 0 ? 'gpu-cluster' : 'hpc',
      slurmJobId: String(100_000 + i),
      name: `${NAMES[i % NAMES.length]}-${i}`,
      state,
      terminal,
      kind,
      reason: state === 'PENDING' ? 'Priority' : null,
      submitTime: new Date(submit).toISOString(),
      startTime: start === null ? null : new Date(start).toISOString(),
      endTime: end === null ? null : new Date(end).toISOString(),
      partition: i % 2 ? 'debug' : 'gpu',
      cpus: 1 + (i % 16),
      timeLimitSeconds: 3600 * (1 + (i % 4)),
      progress: state === 'RUNNING' ? Math.floor(rnd() * 100) : null,
      exitCode: terminal ? (state === 'COMPLETED' ? 0 : 1) : null,
      model: kind === 'job' ? null : 'digits',
      modelVersion: kind === 'job' ? null : 1 + (i % 5),
    });
  }
  return jobs.reverse();
}

/**
 * The first render of the jobs view with `n` jobs, in ms: from posting
 * jobs/replace to the page reporting that it rendered them (validation, store,
 * filter and sort, grid, chart).
 */
export async function firstRenderMs(h: PageHarness, jobs: JobRow[]): Promise<number> {
  return h.page.evaluate(
    (jobsArg) =>
      new Promise<number>((resolve, reject) => {
        const w = window as unknown as { __posted: { type: string; view?: string; total?: number }[] };
        const from = w.__posted.length;
        const t0 = performance.now();
        window.postMessage({ type: 'daemon', status: { state: 'connected', message: null } }, '*');
        window.postMessage({ type: 'jobs/replace', jobs: jobsArg }, '*');
        const started = Date.now();
        const poll = () => {
          const hit = w.__posted.slice(from).find((m) => m.type === 'rendered' && m.view === 'jobs' && m.total === jobsArg.length);
          if (hit) resolve(performance.now() - t0);
          else if (Date.now() - started > 30_000) reject(new Error('no render within 30 s'));
          else setTimeout(poll, 1);
        };
        poll();
      }),
    jobs,
  );
}
