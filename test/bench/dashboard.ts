// The dashboard's first render with 10,000 jobs: the built page (npm run
// build) in headless Chromium, fed through its message interface as the
// extension feeds it; from posting jobs/replace to the page reporting the
// rendered grid (validation, store, filter and sort, grid, chart). Each run is
// a fresh page; the median of the runs is the figure.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { firstRenderMs, launchChromium, openDashboard, serveDashboard, syntheticJobs } from '../webview/harness';
import { row, type BenchPart } from './parts';
import { median } from './util';

export const DASHBOARD_GOAL_MS = 500;
const JOBS = 10_000;

export interface DashboardFigures {
  jobs: number;
  runsMs: number[];
  medianMs: number;
}

/** Milliseconds to the first render of the jobs view with `jobs` jobs, per run. */
export async function dashboardFirstRender(runs = 5, jobs = JOBS): Promise<DashboardFigures> {
  const built = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  const served = await serveDashboard();
  const browser = await launchChromium();
  try {
    const data = syntheticJobs(jobs);
    const runsMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const h = await openDashboard(browser, served.url);
      await h.waitFor((m) => m.type === 'ready', 'ready');
      runsMs.push(Math.round((await firstRenderMs(h, data)) * 10) / 10);
      await h.close();
    }
    return { jobs, runsMs, medianMs: median(runsMs) };
  } finally {
    await browser.close();
    await served.close();
  }
}

export const dashboardPart: BenchPart = {
  name: 'dashboard',
  async run(ctx) {
    ctx.progress(`dashboard: first render with ${JOBS.toLocaleString('en-US')} jobs in headless Chromium`);
    const f = await dashboardFirstRender();
    return {
      rows: [
        row('dashboard first render', f.medianMs, {
          unit: 'ms',
          goal: `≤ ${DASHBOARD_GOAL_MS} ms`,
          met: f.medianMs <= DASHBOARD_GOAL_MS,
          jobs: f.jobs.toLocaleString('en-US'),
          source: 'Chromium',
          note: `median of ${f.runsMs.length} fresh pages [${f.runsMs.join(', ')}]; built page, jobs/replace to the page's rendered report`,
        }),
      ],
      json: { ...f, goalMs: DASHBOARD_GOAL_MS },
    };
  },
};
