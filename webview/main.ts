// The dashboard page: four views (jobs, models, runtime, cluster) in tabs,
// filled from the extension's messages. Messages update the store; the active
// view renders at most once per frame, so of many messages only the latest of
// each kind is drawn. UI state is kept by VS Code across hide and restore;
// data is asked for again on every load.
import './zodConfig';
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDropdown,
  vsCodeOption,
  vsCodePanels,
  vsCodePanelTab,
  vsCodePanelView,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';
import './dashboard.css';
import { onThemeChange } from './charts';
import { ClusterView } from './clusterView';
import type { Actions, View, ViewContext } from './context';
import { h } from './dom';
import { JobsView } from './jobsView';
import { listen, loadState, newRequestId, ready, saveState, send } from './messaging';
import { ModelsView } from './modelsView';
import type { DashboardView } from './protocol';
import { RuntimeView } from './runtimeView';
import { Store, restoreUi, type UiState } from './store';

// No vscode-badge: its template carries an inline style attribute, which the
// CSP (no 'unsafe-inline') blocks; badges are styled spans.
provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeDropdown(), vsCodeOption(), vsCodePanels(), vsCodePanelTab(), vsCodePanelView(), vsCodeTextField());

const store = new Store();
const ui: UiState = restoreUi(loadState<UiState>());
const actions: Actions = {
  load: (what, args = {}) => send({ type: 'load', requestId: newRequestId(), what, ...args }),
  followLog: (jobId) => send({ type: 'followLog', jobId }),
  jobAction: (action, jobId) => send({ type: 'action', requestId: newRequestId(), action, jobId }),
  batchEstimate: (cluster, rows) => {
    const requestId = newRequestId();
    send({ type: 'batchEstimate', requestId, cluster, rows });
    return requestId;
  },
  saveFile: (name, content) => send({ type: 'saveFile', requestId: newRequestId(), name, content }),
};

const views: Record<DashboardView, View> = { jobs: new JobsView(), models: new ModelsView(), runtime: new RuntimeView(), cluster: new ClusterView() };
const titles: Record<DashboardView, string> = { jobs: 'Jobs', models: 'Models', runtime: 'Runtime', cluster: 'Cluster' };

let frame = 0;
const ctx: ViewContext = {
  store,
  ui,
  actions,
  saveUi: () => saveState(ui),
  invalidate: () => schedule(),
};

const banner = h('div', { class: 'banner', role: 'status', hidden: true });
const notice = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite' });
const panels = h('vscode-panels', { 'aria-label': 'Dashboard views', activeid: `tab-${ui.view}` });
for (const v of Object.keys(views) as DashboardView[]) panels.appendChild(h('vscode-panel-tab', { id: `tab-${v}` }, titles[v].toUpperCase()));
for (const v of Object.keys(views) as DashboardView[]) panels.appendChild(h('vscode-panel-view', { id: `view-${v}` }, views[v].element));
panels.addEventListener('change', () => {
  // The toolkit keeps the active tab in its activeid property (the attribute is only read at start).
  const id = String((panels as unknown as { activeid?: string }).activeid ?? panels.getAttribute('activeid') ?? '');
  const v = id.replace(/^tab-/, '') as DashboardView;
  if (!(v in views) || v === ui.view) return;
  ui.view = v;
  ctx.saveUi();
  views[v].activate(ctx);
  schedule();
});
document.body.append(banner, notice, panels);

let noticeTimer: ReturnType<typeof setTimeout> | undefined;
/** A line above the tabs for outcomes and problems; it goes away after a while. */
function showNotice(text: string, ok: boolean): void {
  notice.textContent = text;
  notice.className = `notice ${ok ? 'ok' : 'fail'}`;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.textContent = ''), 15_000);
}

function schedule(): void {
  if (frame) return;
  // A frame when visible; a timer keeps hidden pages (no frames) current too.
  const run = () => {
    if (!frame) return;
    frame = 0;
    render();
  };
  frame = requestAnimationFrame(run);
  setTimeout(run, 100);
}

let lastReport = '';
function render(): void {
  const d = store.daemon;
  banner.hidden = !d || d.state === 'connected';
  banner.textContent = d && d.state !== 'connected' ? `The Slurm ML daemon is ${d.state}${d.message ? `: ${d.message}` : ''}. What is shown may be out of date.` : '';
  if (store.lastResult && store.dirty.has('result')) showNotice(store.lastResult.message, store.lastResult.ok);
  views[ui.view].render(ctx);
  store.dirty.clear();
  const r = views[ui.view].report();
  const key = `${ui.view}|${r.total}|${r.shown}|${r.rowIds.join()}`;
  if (key !== lastReport) {
    lastReport = key;
    send({ type: 'rendered', view: ui.view, ...r });
  }
}

listen(
  (m) => {
    store.apply(m);
    // The cluster list arrived: views that show per-cluster data ask for it.
    if (m.type === 'clusters' && ui.view === 'cluster') for (const c of m.overview.clusters) if (!store.partitions.has(c.name)) actions.load('partitions', { cluster: c.name });
    schedule();
  },
  (error) => showNotice(`Ignored a malformed message from the extension: ${error}`, false),
);
onThemeChange(() => {
  for (const v of Object.values(views)) v.themeChanged?.();
  schedule();
});
// What the CSP blocks or throws goes to the extension's log (and its tests).
document.addEventListener('securitypolicyviolation', (e) => send({ type: 'problem', message: `CSP ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`.slice(0, 2000) }));
window.addEventListener('error', (e) => send({ type: 'problem', message: `${e.message} (${e.filename}:${e.lineno})`.slice(0, 2000) }));
// Running jobs' elapsed times move on between notifications.
setInterval(() => {
  if (ui.view === 'jobs' || ui.view === 'cluster') schedule();
}, 15_000);
views[ui.view].activate(ctx);
ready();
schedule();
