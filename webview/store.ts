// What the page knows (from the extension) and how it is being looked at (the
// UI state VS Code keeps across hide and restore). Messages update the store
// and mark what changed; the page renders once per frame, so when many
// messages arrive only the latest of each kind is drawn.
import type { ModelSummary, PartitionInfo, RuntimeEstimate, JobDetail } from '../daemon/protocol';
import { defaultFilter, defaultSort, type JobFilter, type JobSort } from './jobsModel';
import type { BatchRow, DaemonStatus, DashboardView, HostToWebview, JobRow, Lineage, ModelDetail, RuntimeOverview } from './protocol';
import { ClusterOverview } from './protocol';
import type { z } from 'zod';

export interface UiState {
  view: DashboardView;
  filter: JobFilter;
  sort: JobSort;
  selectedJob: string | null;
  scrollTop: number;
  model: string | null;
  /** Versions chosen for the side-by-side comparison. */
  compare: number[];
  lineageVersion: number | null;
  runtimeCluster: string | null;
  cluster: string | null;
}

export const defaultUi: UiState = {
  view: 'jobs',
  filter: defaultFilter,
  sort: defaultSort,
  selectedJob: null,
  scrollTop: 0,
  model: null,
  compare: [],
  lineageVersion: null,
  runtimeCluster: null,
  cluster: null,
};

/** Restores a saved UI state, keeping only fields of the right shape. */
export function restoreUi(saved: Partial<UiState> | undefined): UiState {
  const ui: UiState = structuredClone(defaultUi);
  if (!saved) return ui;
  if (saved.view && ['jobs', 'models', 'runtime', 'cluster'].includes(saved.view)) ui.view = saved.view;
  if (saved.filter && typeof saved.filter === 'object') ui.filter = { ...defaultFilter, ...saved.filter };
  if (saved.sort && typeof saved.sort === 'object') ui.sort = { ...defaultSort, ...saved.sort };
  for (const k of ['selectedJob', 'model', 'runtimeCluster', 'cluster'] as const) if (typeof saved[k] === 'string') ui[k] = saved[k];
  if (typeof saved.scrollTop === 'number') ui.scrollTop = saved.scrollTop;
  if (typeof saved.lineageVersion === 'number') ui.lineageVersion = saved.lineageVersion;
  if (Array.isArray(saved.compare)) ui.compare = saved.compare.filter((v) => typeof v === 'number');
  return ui;
}

export type Part = 'daemon' | 'jobs' | 'clusters' | 'partitions' | 'models' | 'model' | 'lineage' | 'jobDetail' | 'log' | 'runtime' | 'batch' | 'result';

export interface BatchState {
  requestId: string;
  cluster: string;
  rows: BatchRow[];
  estimates: RuntimeEstimate[] | null;
  error: string | null;
}

export class Store {
  daemon: DaemonStatus | null = null;
  readonly jobs = new Map<string, JobRow>();
  /** Bumped whenever the set of jobs or any job changed. */
  jobsVersion = 0;
  clusters: z.infer<typeof ClusterOverview> | null = null;
  readonly partitions = new Map<string, { partitions: PartitionInfo[]; at: string }>();
  models: ModelSummary[] | null = null;
  model: ModelDetail | null = null;
  lineage: Lineage | null = null;
  jobDetail: { detail: JobDetail; estimate: RuntimeEstimate | null } | null = null;
  log: { jobId: string; text: string; done: boolean } | null = null;
  runtime: RuntimeOverview | null = null;
  batch: BatchState | null = null;
  lastResult: { requestId: string; ok: boolean; message: string } | null = null;
  readonly dirty = new Set<Part>();

  /** Applies one message; returns what changed. */
  apply(m: HostToWebview): Part {
    switch (m.type) {
      case 'daemon':
        this.daemon = m.status;
        return this.mark('daemon');
      case 'jobs/replace':
        this.jobs.clear();
        for (const j of m.jobs) this.jobs.set(j.id, j);
        this.jobsVersion++;
        return this.mark('jobs');
      case 'jobs/update':
        for (const j of m.jobs) this.jobs.set(j.id, j);
        this.jobsVersion++;
        if (this.jobDetail && m.jobs.some((j) => j.id === this.jobDetail!.detail.id)) this.mark('jobDetail');
        return this.mark('jobs');
      case 'clusters':
        this.clusters = m.overview;
        return this.mark('clusters');
      case 'partitions':
        this.partitions.set(m.cluster, { partitions: m.partitions, at: m.at });
        return this.mark('partitions');
      case 'models':
        this.models = m.models;
        return this.mark('models');
      case 'model':
        this.model = m.detail;
        return this.mark('model');
      case 'lineage':
        this.lineage = m.lineage;
        return this.mark('lineage');
      case 'jobDetail':
        this.jobDetail = { detail: m.detail, estimate: m.estimate };
        return this.mark('jobDetail');
      case 'log': {
        const keep = this.log && this.log.jobId === m.jobId && !m.reset ? this.log.text : '';
        // The pane shows the tail: keep the last 256 KiB.
        const text = (keep + m.data).slice(-262_144);
        this.log = { jobId: m.jobId, text, done: m.done };
        return this.mark('log');
      }
      case 'runtime':
        this.runtime = m.overview;
        return this.mark('runtime');
      case 'batchEstimate':
        if (this.batch && this.batch.requestId === m.requestId) this.batch = { ...this.batch, estimates: m.estimates, error: null };
        return this.mark('batch');
      case 'result':
        this.lastResult = { requestId: m.requestId, ok: m.ok, message: m.message };
        if (!m.ok && this.batch && this.batch.requestId === m.requestId) this.batch = { ...this.batch, error: m.message };
        return this.mark('result');
    }
  }

  private mark(p: Part): Part {
    this.dirty.add(p);
    return p;
  }
}
