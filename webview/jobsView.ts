// Jobs: every job in a virtualized grid (filter by cluster, state and kind,
// search, sort), a chart of the shown jobs by state, and a detail pane for the
// open job: timeline, requested against used, the estimate's interval against
// the actual runtime, the live log tail, the script as submitted, actions.
import type { Chart } from 'chart.js';
import { chart } from './charts';
import type { View, ViewContext } from './context';
import { append, clear, h } from './dom';
import { count, dateTime, duration } from './format';
import { VirtualGrid } from './grid';
import { clustersOf, elapsedSeconds, stateGroupOf, visibleJobs, type SortKey, type StateGroup } from './jobsModel';
import type { JobRow } from './protocol';

const STATE_GROUPS: [StateGroup, string][] = [
  ['all', 'All states'],
  ['active', 'Active'],
  ['pending', 'Pending'],
  ['running', 'Running'],
  ['completed', 'Completed'],
  ['failed', 'Failed / cancelled'],
];
const KINDS: [string, string][] = [
  ['', 'All kinds'],
  ['job', 'Jobs'],
  ['train', 'Train'],
  ['predict', 'Predict'],
  ['evaluate', 'Evaluate'],
];

function stateBadge(j: JobRow): HTMLElement {
  return h('span', { class: `state state-${stateGroupOf(j)}`, title: j.reason ?? j.state }, j.state);
}

function dropdown(id: string, label: string, options: [string, string][], onChange: (v: string) => void): HTMLElement {
  const d = h('vscode-dropdown', { id, 'aria-label': label, title: label }, ...options.map(([v, t]) => h('vscode-option', { value: v }, t)));
  d.addEventListener('change', () => onChange((d as HTMLSelectElement).value));
  return d;
}

function setDropdown(d: HTMLElement, value: string): void {
  if ((d as HTMLSelectElement).value !== value) (d as HTMLSelectElement).value = value;
}

export class JobsView implements View {
  readonly element: HTMLElement;
  private readonly grid: VirtualGrid<JobRow>;
  private readonly search: HTMLElement;
  private readonly clusterDd: HTMLElement;
  private readonly stateDd: HTMLElement;
  private readonly kindDd: HTMLElement;
  private readonly countLabel: HTMLElement;
  private readonly chartCanvas: HTMLCanvasElement;
  private readonly detail: HTMLElement;
  private clusterOptions = '';
  private shown: JobRow[] = [];
  private lastKey = '';
  private detailFor: string | null = null;
  private logPre: HTMLElement | null = null;
  private chart: Chart | null = null;
  private restoredScroll = false;
  private ctx!: ViewContext;

  constructor() {
    this.search = h('vscode-text-field', { id: 'job-search', placeholder: 'Search name, id, state, partition, model', 'aria-label': 'Search jobs' });
    this.search.addEventListener('input', () => this.setFilter({ search: (this.search as HTMLInputElement).value }));
    this.clusterDd = dropdown('filter-cluster', 'Filter by cluster', [['', 'All clusters']], (v) => this.setFilter({ cluster: v }));
    this.stateDd = dropdown('filter-state', 'Filter by state', STATE_GROUPS, (v) => this.setFilter({ state: v as StateGroup }));
    this.kindDd = dropdown('filter-kind', 'Filter by kind', KINDS, (v) => this.setFilter({ kind: v }));
    this.countLabel = h('span', { class: 'count', role: 'status', 'aria-live': 'polite', id: 'job-count' });
    this.chartCanvas = h('canvas', { id: 'jobs-by-state', role: 'img', 'aria-label': 'Shown jobs by state' });
    const now = () => Date.now();
    this.grid = new VirtualGrid<JobRow>({
      label: 'Jobs',
      rowId: (j) => j.id,
      onOpen: (j) => this.open(j.id),
      onSort: (key) => {
        const s = this.ctx.ui.sort;
        this.ctx.ui.sort = s.key === key ? { key: s.key, descending: !s.descending } : { key: key as SortKey, descending: key === 'submitTime' || key === 'elapsed' };
        this.ctx.saveUi();
        this.ctx.invalidate();
      },
      onScroll: (top) => {
        this.ctx.ui.scrollTop = top;
        this.ctx.saveUi();
      },
      columns: [
        { key: 'state', title: 'State', width: 'minmax(7.5em, 1.3fr)', sortable: true, cell: stateBadge },
        { key: 'name', title: 'Name', width: 'minmax(8em, 2.6fr)', sortable: true, cell: (j) => j.name },
        { key: 'slurmJobId', title: 'SLURM id', width: 'minmax(0, 0.9fr)', sortable: true, cell: (j) => j.slurmJobId ?? '—' },
        { key: 'cluster', title: 'Cluster', width: 'minmax(0, 1fr)', sortable: true, cell: (j) => j.cluster },
        { key: 'kind', title: 'Kind', width: 'minmax(0, 0.8fr)', sortable: true, cell: (j) => j.kind },
        { key: 'partition', title: 'Partition', width: 'minmax(0, 0.9fr)', sortable: true, cell: (j) => j.partition ?? '—' },
        { key: 'submitTime', title: 'Submitted', width: 'minmax(0, 1.7fr)', sortable: true, cell: (j) => dateTime(j.submitTime) },
        { key: 'elapsed', title: 'Elapsed', width: 'minmax(0, 1fr)', sortable: true, cell: (j) => duration(elapsedSeconds(j, now())) },
        { key: 'progress', title: 'Progress', width: 'minmax(0, 0.7fr)', sortable: false, cell: (j) => (j.progress === null ? '' : `${Math.round(j.progress)} %`) },
      ],
    });
    this.detail = h('section', { class: 'detail', 'aria-label': 'Job details', id: 'job-detail' });
    this.element = h(
      'div',
      { class: 'jobs-view' },
      h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Job filters' }, this.search, this.clusterDd, this.stateDd, this.kindDd, this.countLabel),
      h('div', { class: 'jobs-main' }, h('div', { class: 'jobs-left' }, h('div', { class: 'chart-small' }, this.chartCanvas), this.grid.element), this.detail),
    );
  }

  activate(ctx: ViewContext): void {
    this.ctx = ctx;
    if (ctx.ui.selectedJob && this.detailFor !== ctx.ui.selectedJob) this.open(ctx.ui.selectedJob);
  }

  private setFilter(part: Partial<ViewContext['ui']['filter']>): void {
    this.ctx.ui.filter = { ...this.ctx.ui.filter, ...part };
    this.ctx.saveUi();
    this.ctx.invalidate();
  }

  private open(id: string): void {
    this.ctx.ui.selectedJob = id;
    this.ctx.saveUi();
    this.detailFor = id;
    this.ctx.actions.load('jobDetail', { ref: id });
    this.ctx.actions.followLog(id);
    this.ctx.invalidate();
  }

  private close(): void {
    this.ctx.ui.selectedJob = null;
    this.detailFor = null;
    this.ctx.saveUi();
    this.ctx.actions.followLog(null);
    this.ctx.invalidate();
    this.grid.focus();
  }

  render(ctx: ViewContext): void {
    this.ctx = ctx;
    const { store, ui } = ctx;
    const all = [...store.jobs.values()];
    const clusters = clustersOf(all);
    const key = clusters.join('\u0000');
    if (key !== this.clusterOptions) {
      this.clusterOptions = key;
      clear(this.clusterDd);
      append(this.clusterDd, [h('vscode-option', { value: '' }, 'All clusters'), ...clusters.map((c) => h('vscode-option', { value: c }, c))]);
    }
    setDropdown(this.clusterDd, ui.filter.cluster);
    setDropdown(this.stateDd, ui.filter.state);
    setDropdown(this.kindDd, ui.filter.kind);
    if ((this.search as HTMLInputElement).value !== ui.filter.search) (this.search as HTMLInputElement).value = ui.filter.search;

    const k = `${store.jobsVersion}|${JSON.stringify(ui.filter)}|${JSON.stringify(ui.sort)}`;
    if (k !== this.lastKey) {
      this.lastKey = k;
      this.shown = visibleJobs(all, ui.filter, ui.sort);
      this.countLabel.textContent = `${count(this.shown.length)} of ${count(all.length)} jobs`;
      this.renderChart();
    }
    this.grid.setRows(this.shown, ui.sort, ui.selectedJob);
    if (!this.restoredScroll && all.length > 0) {
      this.restoredScroll = true;
      if (ui.scrollTop) this.grid.scrollTo(ui.scrollTop);
    }
    this.renderDetail();
  }

  report(): { total: number; shown: number; rowIds: string[] } {
    return { total: this.ctx?.store.jobs.size ?? 0, shown: this.shown.length, rowIds: this.grid.visibleIds().slice(0, 200) };
  }

  private renderChart(): void {
    const groups: [string, string][] = [
      ['pending', 'Pending'],
      ['running', 'Running'],
      ['completed', 'Completed'],
      ['failed', 'Failed / cancelled'],
    ];
    const counts = new Map<string, number>();
    for (const j of this.shown) counts.set(stateGroupOf(j), (counts.get(stateGroupOf(j)) ?? 0) + 1);
    this.chartCanvas.setAttribute('aria-label', `Shown jobs by state: ${groups.map(([g, t]) => `${t} ${counts.get(g) ?? 0}`).join(', ')}`);
    this.chart = chart(this.chartCanvas, (p) => ({
      type: 'bar',
      data: {
        labels: groups.map(([, t]) => t),
        datasets: [{ label: 'Jobs', data: groups.map(([g]) => counts.get(g) ?? 0), backgroundColor: [p.warn, p.series[0]!, p.ok, p.bad] }],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: {} } },
    }));
  }

  /** Re-colours the chart for a new theme. */
  themeChanged(): void {
    if (this.chart) this.renderChart();
  }

  private renderDetail(): void {
    const { store, ui } = this.ctx;
    const id = ui.selectedJob;
    this.detail.hidden = !id;
    if (!id) {
      clear(this.detail);
      this.logPre = null;
      return;
    }
    const row = store.jobs.get(id);
    const full = store.jobDetail?.detail.id === id ? store.jobDetail : null;
    const key = `${id}|${JSON.stringify(row ?? null)}|${full ? 1 : 0}|${full?.estimate ? 1 : 0}`;
    if (this.detail.dataset.key === key && this.logPre) {
      this.renderLog();
      return;
    }
    this.detail.dataset.key = key;
    clear(this.detail);
    const j = row ?? (full ? { ...full.detail, partition: full.detail.requested.partition, cpus: full.detail.requested.cpus, timeLimitSeconds: full.detail.requested.timeLimitSeconds } : null);
    if (!j) {
      append(this.detail, [h('p', null, 'Loading…')]);
      return;
    }
    const now = Date.now();
    const elapsed = elapsedSeconds(j, now);
    const wait = j.submitTime ? ((j.startTime ? Date.parse(j.startTime) : j.terminal && j.endTime ? Date.parse(j.endTime) : now) - Date.parse(j.submitTime)) / 1000 : null;
    const closeBtn = h('vscode-button', { appearance: 'icon', 'aria-label': 'Close details', title: 'Close details (Escape)' }, '✕');
    closeBtn.addEventListener('click', () => this.close());
    this.detail.onkeydown = (e) => {
      if (e.key === 'Escape') this.close();
    };
    const act = (label: string, action: 'cancel' | 'resubmit' | 'showOutput' | 'openScript', enabled: boolean, appearance = 'secondary') => {
      const b = h('vscode-button', { appearance, disabled: !enabled, 'data-action': action }, label);
      b.addEventListener('click', () => this.ctx.actions.jobAction(action, j.id));
      return b;
    };
    append(this.detail, [
      h('header', { class: 'detail-head' }, h('h2', null, j.name), stateBadge(j as JobRow), closeBtn),
      h('p', { class: 'muted' }, `${j.cluster} · SLURM ${j.slurmJobId ?? '—'} · ${j.kind}${j.model ? ` · ${j.model}${j.modelVersion ? ` v${j.modelVersion}` : ''}` : ''} · ${j.id}`),
      h(
        'div',
        { class: 'actions', role: 'group', 'aria-label': 'Job actions' },
        act('Cancel', 'cancel', !j.terminal, 'primary'),
        act('Resubmit…', 'resubmit', j.terminal),
        act('Show Output', 'showOutput', true),
        act('Open Script', 'openScript', true),
      ),
      h('h3', null, 'Timeline'),
      this.timeline(j as JobRow, wait, elapsed),
      h('h3', null, 'Requested and used'),
      this.resources(j as JobRow, elapsed, full?.detail ?? null),
      h('h3', null, 'Predicted and actual runtime'),
      this.prediction(full?.estimate ?? null, j.terminal ? elapsed : null, elapsed, full?.detail.estimate ? 'when submitted' : 'for this script now'),
      h('h3', null, 'Log', store.log?.jobId === id && !store.log.done && !j.terminal ? h('span', { class: 'muted' }, ' (live)') : ''),
    ]);
    this.logPre = h('pre', { class: 'log', tabindex: 0, 'aria-label': 'Log tail', id: 'job-log' });
    this.detail.appendChild(this.logPre);
    this.renderLog();
    append(this.detail, [h('h3', null, 'Script as submitted'), h('pre', { class: 'script', tabindex: 0, 'aria-label': 'Script as submitted' }, full ? full.detail.script : 'Loading…')]);
    if (full?.detail.sbatchArgs.length) append(this.detail, [h('p', { class: 'muted' }, `sbatch ${full.detail.sbatchArgs.join(' ')}`)]);
  }

  private renderLog(): void {
    if (!this.logPre) return;
    const log = this.ctx.store.log;
    const text = log && log.jobId === this.ctx.ui.selectedJob ? log.text : '';
    if (this.logPre.textContent === text) return;
    const atEnd = this.logPre.scrollTop + this.logPre.clientHeight >= this.logPre.scrollHeight - 4;
    this.logPre.textContent = text || '(nothing yet)';
    if (atEnd) this.logPre.scrollTop = this.logPre.scrollHeight;
  }

  private timeline(j: JobRow, wait: number | null, elapsed: number | null): HTMLElement {
    const total = (wait ?? 0) + (elapsed ?? 0);
    const bar = h('div', { class: 'timeline-bar', role: 'img', 'aria-label': `Waited ${duration(wait)}, ran ${duration(elapsed)}` });
    if (total > 0) {
      const w = h('div', { class: 'seg wait' });
      w.style.width = `${(100 * (wait ?? 0)) / total}%`;
      const r = h('div', { class: 'seg run' });
      r.style.width = `${(100 * (elapsed ?? 0)) / total}%`;
      append(bar, [w, r]);
    }
    return h(
      'div',
      null,
      h('dl', { class: 'facts' }, h('dt', null, 'Submitted'), h('dd', null, dateTime(j.submitTime)), h('dt', null, 'Started'), h('dd', null, dateTime(j.startTime), j.startTime ? ` (waited ${duration(wait)})` : ''), h('dt', null, 'Ended'), h('dd', null, dateTime(j.endTime), j.endTime ? ` (ran ${duration(elapsed)})` : '', j.exitCode !== null ? ` · exit ${j.exitCode}` : '')),
      bar,
    );
  }

  private resources(j: JobRow, elapsed: number | null, full: { requested: { qos: string | null; account: string | null; nodes: number | null; tres: string | null } } | null): HTMLElement {
    const limit = j.timeLimitSeconds;
    const used = elapsed !== null && limit ? Math.min(100, (100 * elapsed) / limit) : null;
    const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': 'Time used of the limit', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': used === null ? null : Math.round(used) });
    const fill = h('div', { class: `fill${used !== null && used > 90 ? ' hot' : ''}` });
    fill.style.width = `${used ?? 0}%`;
    meter.appendChild(fill);
    return h(
      'div',
      null,
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'Partition'),
        h('dd', null, j.partition ?? '—', full?.requested.qos ? ` · QOS ${full.requested.qos}` : '', full?.requested.account ? ` · account ${full.requested.account}` : ''),
        h('dt', null, 'CPUs / nodes'),
        h('dd', null, `${j.cpus ?? '—'} CPUs · ${full?.requested.nodes ?? '—'} node(s)`),
        h('dt', null, 'TRES'),
        h('dd', null, full?.requested.tres ?? '—'),
        h('dt', null, 'Time'),
        h('dd', null, `${duration(elapsed)} used of ${duration(limit)}${used !== null ? ` (${Math.round(used)} %)` : ''}`),
        h('dt', null, 'Progress'),
        h('dd', null, j.progress === null ? 'not reported' : `${Math.round(j.progress)} %`),
      ),
      meter,
    );
  }

  private prediction(e: { p10: number | null; p50: number | null; p90: number | null; source: string; modelVersion: number | null } | null, actual: number | null, elapsed: number | null, when: string): HTMLElement {
    if (!e) return h('p', { class: 'muted' }, 'Loading the estimate…');
    if (e.p50 === null) return h('p', { class: 'muted' }, 'No estimate for this script (no history and no time limit).');
    const hi = Math.max(e.p90 ?? e.p50, actual ?? elapsed ?? 0, e.p50) * 1.15 || 1;
    const pct = (x: number) => `${Math.min(100, (100 * x) / hi)}%`;
    const scale = h('div', { class: 'interval', role: 'img', 'aria-label': `Predicted ${duration(e.p50)} (80 %: ${duration(e.p10)} to ${duration(e.p90)}); actual ${actual !== null ? duration(actual) : elapsed !== null ? `${duration(elapsed)} so far` : 'not started'}` });
    if (e.p10 !== null && e.p90 !== null) {
      const band = h('div', { class: 'band' });
      band.style.left = pct(e.p10);
      band.style.width = `calc(${pct(e.p90)} - ${pct(e.p10)})`;
      scale.appendChild(band);
    }
    const p50 = h('div', { class: 'tick p50', title: `p50 ${duration(e.p50)}` });
    p50.style.left = pct(e.p50);
    scale.appendChild(p50);
    const a = actual ?? elapsed;
    if (a !== null) {
      const t = h('div', { class: `tick actual${actual === null ? ' running' : ''}`, title: `actual ${duration(a)}` });
      t.style.left = pct(a);
      scale.appendChild(t);
    }
    return h(
      'div',
      null,
      scale,
      h('p', { class: 'muted' }, `p50 ${duration(e.p50)} · p10–p90 ${duration(e.p10)} – ${duration(e.p90)} · from ${e.source}${e.modelVersion ? ` v${e.modelVersion}` : ''} (${when}) · actual ${actual !== null ? duration(actual) : elapsed !== null ? `${duration(elapsed)} so far` : '—'}`),
    );
  }
}
