// Runtime: for a cluster's finished jobs, the model's p50 with its p10–p90
// interval against the actual runtime, the error over time against the
// baselines, every runtime-model version's metrics beside the baselines', and
// a batch estimate from an uploaded CSV of job requests, downloadable as CSV.
import type { View, ViewContext } from './context';
import { append, clear, h, table } from './dom';
import { chart, destroyChartsIn } from './charts';
import { duration, metric } from './format';
import { estimatesCsv, parseBatchCsv } from './csv';
import type { RuntimeAccuracyJob } from '../daemon/protocol';

const CHART_JOBS = 120;
const WINDOW = 20;

function rolling(values: number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    if (i >= window) sum -= values[i - window]!;
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

export class RuntimeView implements View {
  readonly element: HTMLElement;
  private readonly clusterDd: HTMLElement;
  private readonly body: HTMLElement;
  private readonly batchBox: HTMLElement;
  private readonly fileInput: HTMLInputElement;
  private clusterKey = '';
  private ctx!: ViewContext;
  private lastRendered: unknown = null;
  private batchError: string | null = null;

  constructor() {
    this.clusterDd = h('vscode-dropdown', { id: 'runtime-cluster', 'aria-label': 'Cluster' });
    this.clusterDd.addEventListener('change', () => {
      const v = (this.clusterDd as HTMLSelectElement).value;
      if (!v || v === this.ctx.ui.runtimeCluster) return;
      this.ctx.ui.runtimeCluster = v;
      this.ctx.saveUi();
      this.ctx.actions.load('runtime', { cluster: v });
      this.ctx.invalidate();
    });
    this.body = h('div', { class: 'runtime-body' });
    this.fileInput = h('input', { type: 'file', id: 'batch-file', accept: '.csv,text/csv', 'aria-label': 'CSV of job requests' });
    this.fileInput.addEventListener('change', () => void this.upload());
    this.batchBox = h('div', { class: 'batch-results', 'aria-live': 'polite' });
    this.element = h(
      'div',
      { class: 'runtime-view' },
      h('div', { class: 'toolbar' }, h('label', { for: 'runtime-cluster' }, 'Cluster '), this.clusterDd),
      this.body,
      h(
        'section',
        { class: 'batch', 'aria-label': 'Batch estimate' },
        h('h3', null, 'Batch estimate from a CSV'),
        h('p', { class: 'muted' }, 'A header line, then one job request per line. Columns: name, time, cpus, nodes, mem, partition, gpus (any order; each optional but time or name).'),
        h('label', { for: 'batch-file' }, 'CSV file '),
        this.fileInput,
        this.batchBox,
      ),
    );
  }

  themeChanged(): void {
    this.lastRendered = null;
  }

  private clusters(): string[] {
    const s = this.ctx.store;
    // Registered clusters, and those jobs ran on (a removed cluster's history stays readable).
    const names = new Set([...(s.clusters?.clusters.map((c) => c.name) ?? []), ...[...s.jobs.values()].map((j) => j.cluster)]);
    return [...names].sort();
  }

  activate(ctx: ViewContext): void {
    this.ctx = ctx;
    ctx.actions.load('clusters');
    const c = ctx.ui.runtimeCluster ?? this.clusters()[0];
    if (c) {
      ctx.ui.runtimeCluster = c;
      ctx.actions.load('runtime', { cluster: c });
    }
  }

  report() {
    const r = this.ctx?.store.runtime;
    return { total: r?.totalJobs ?? 0, shown: r?.jobs.length ?? 0, rowIds: (r?.jobs ?? []).slice(-200).map((j) => j.slurmJobId) };
  }

  private async upload(): Promise<void> {
    const f = this.fileInput.files?.[0];
    if (!f) return;
    const cluster = this.ctx.ui.runtimeCluster;
    const parsed = parseBatchCsv(await f.text());
    if (!parsed.ok || !cluster) {
      this.batchError = parsed.ok ? 'choose a cluster first' : parsed.error;
      this.ctx.store.batch = null;
    } else {
      this.batchError = null;
      const requestId = this.ctx.actions.batchEstimate(cluster, parsed.rows);
      this.ctx.store.batch = { requestId, cluster, rows: parsed.rows, estimates: null, error: null };
    }
    this.ctx.invalidate();
  }

  render(ctx: ViewContext): void {
    this.ctx = ctx;
    const { store, ui } = ctx;
    const names = this.clusters();
    if (!ui.runtimeCluster && names[0]) {
      ui.runtimeCluster = names[0];
      ctx.actions.load('runtime', { cluster: names[0] });
    }
    if (names.join() !== this.clusterKey) {
      this.clusterKey = names.join();
      clear(this.clusterDd);
      append(this.clusterDd, names.map((n) => h('vscode-option', { value: n }, n)));
    }
    if (ui.runtimeCluster && (this.clusterDd as HTMLSelectElement).value !== ui.runtimeCluster) (this.clusterDd as HTMLSelectElement).value = ui.runtimeCluster;
    this.renderBatch();
    const r = store.runtime && store.runtime.cluster === ui.runtimeCluster ? store.runtime : null;
    if (r === this.lastRendered && this.body.firstChild) return;
    this.lastRendered = r;
    // Charts of the previous render are released before their canvases go.
    destroyChartsIn(this.body);
    clear(this.body);
    if (!r) {
      this.body.appendChild(h('p', null, ui.runtimeCluster ? 'Loading…' : 'No cluster yet.'));
      return;
    }
    append(this.body, [
      h('p', { class: 'muted' }, `${r.totalJobs} finished jobs in ${r.cluster}'s accounting. ${r.modelVersion ? `Runtime model in use: v${r.modelVersion}.` : 'No runtime model yet: run "Slurm ML: Retrain Runtime Model" (slurm-ml runtime train).'}`),
    ]);
    if (r.jobs.length) this.charts(r.jobs);
    // Metrics: the model in use and the baselines on the jobs it did not see, then each version as measured when trained.
    const keys = ['n', 'mae_minutes', 'median_abs_error_minutes', 'accuracy', 'p50_under_rate', 'p90_under_rate', 'coverage'];
    const cols: [string, Record<string, number> | null][] = [
      [`model v${r.modelVersion ?? '—'} (recent jobs)`, r.metrics.model],
      ['requested time', r.metrics.requested],
      ['last two runs', r.metrics.lastTwo],
      ...r.versions.map((v): [string, Record<string, number> | null] => [`v${v.version}${v.aliases.length ? ` (${v.aliases.join(', ')})` : ''} at training`, { ...v.metrics, ...(v.evaluation ?? {}) }]),
    ];
    append(this.body, [
      h('h3', null, 'Runtime models against the baselines'),
      table('Runtime metrics of the model in use, the baselines and every runtime model version', ['Metric', ...cols.map(([t]) => t)], keys.map((k) => [k, ...cols.map(([, m]) => metric(m?.[k] ?? null))])),
    ]);
  }

  private charts(jobs: RuntimeAccuracyJob[]): void {
    const recent = jobs.slice(-CHART_JOBS);
    const labels = recent.map((j) => j.slurmJobId);
    const min = (s: number) => s / 60;
    const c1 = h('canvas', { id: 'runtime-predicted', role: 'img', 'aria-label': `Predicted p50 with p10–p90 against actual runtime for the newest ${recent.length} finished jobs` });
    const c2 = h('canvas', { id: 'runtime-error', role: 'img', 'aria-label': `Absolute error of p50, the requested time and the last two runs, rolling mean over ${WINDOW} jobs` });
    append(this.body, [h('h3', null, 'Predicted against actual'), h('div', { class: 'chart' }, c1), h('h3', null, 'Error over time'), h('div', { class: 'chart' }, c2)]);
    chart(c1, (p) => ({
      type: 'bar',
      data: {
        labels,
        datasets: [
          { type: 'bar', label: 'p10–p90', data: recent.map((j) => [min(j.p10), min(j.p90)] as [number, number]), backgroundColor: `${p.series[0]}55`, borderColor: p.series[0], borderWidth: 1 },
          { type: 'line', label: 'p50', data: recent.map((j) => min(j.p50)), borderColor: p.series[0], backgroundColor: p.series[0], showLine: false, pointStyle: 'line', pointRadius: 6 },
          { type: 'line', label: 'actual', data: recent.map((j) => min(j.actualSeconds)), borderColor: p.series[1], backgroundColor: p.series[1], showLine: false, pointRadius: 3 },
        ],
      },
      options: { scales: { x: { ticks: { maxTicksLimit: 12 } }, y: { type: 'logarithmic', title: { display: true, text: 'minutes (log)' } } }, plugins: { tooltip: { mode: 'index', intersect: false } } },
    }));
    const fresh = jobs.filter((j) => !j.seenInTraining);
    const err = (f: (j: RuntimeAccuracyJob) => number) => rolling(fresh.map((j) => Math.abs(f(j) - j.actualSeconds) / 60), WINDOW);
    chart(c2, (p) => ({
      type: 'line',
      data: {
        labels: fresh.map((j) => j.slurmJobId),
        datasets: [
          { label: 'model p50', data: err((j) => j.p50), borderColor: p.series[0], pointRadius: 0 },
          { label: 'requested time', data: err((j) => j.requestedSeconds ?? j.actualSeconds), borderColor: p.series[4], pointRadius: 0 },
          { label: 'last two runs', data: err((j) => j.lastTwoSeconds), borderColor: p.series[3], pointRadius: 0 },
        ],
      },
      options: { scales: { x: { ticks: { maxTicksLimit: 12 } }, y: { beginAtZero: true, title: { display: true, text: 'abs. error, minutes' } } } },
    }));
    if (fresh.length === 0) c2.setAttribute('aria-label', 'No job the model did not train on yet');
  }

  private renderBatch(): void {
    clear(this.batchBox);
    const b = this.ctx.store.batch;
    if (this.batchError) {
      this.batchBox.appendChild(h('p', { class: 'fail', role: 'alert' }, this.batchError));
      return;
    }
    if (!b) return;
    if (b.error) {
      this.batchBox.appendChild(h('p', { class: 'fail', role: 'alert' }, b.error));
      return;
    }
    if (!b.estimates) {
      this.batchBox.appendChild(h('p', null, `Estimating ${b.rows.length} job(s) on ${b.cluster}…`));
      return;
    }
    const est = b.estimates;
    const save = h('vscode-button', { id: 'batch-download' }, 'Download CSV');
    save.addEventListener('click', () => this.ctx.actions.saveFile(`estimates-${b.cluster}.csv`, estimatesCsv(b.rows, est)));
    append(this.batchBox, [
      h('p', null, `${est.length} estimate(s) on ${b.cluster}. `, save),
      table(
        'Batch estimates (the first 100)',
        ['Name', 'Time', 'CPUs', 'p50', 'p10–p90', 'Source', 'Warnings / problems'],
        b.rows.slice(0, 100).map((r, i) => {
          const e = est[i];
          return [r.name, r.time, r.cpus, duration(e?.p50), e?.p10 != null ? `${duration(e.p10)} – ${duration(e.p90)}` : '—', e?.source ?? '—', [...(e?.warnings ?? []).map((w) => w.message), ...(e?.problems ?? []).map((p) => p.message)].join('; ')];
        }),
      ),
    ]);
  }
}
