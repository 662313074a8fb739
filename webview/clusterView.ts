// Cluster: per cluster, the SSH connection's state, the poll budget, the
// partitions and node states from sinfo (a chart and a table), and the user's
// queue (the jobs the daemon follows that can still change).
import type { View, ViewContext } from './context';
import { append, clear, h, table } from './dom';
import { chart, destroyChartsIn } from './charts';
import { dateTime, duration } from './format';
import { elapsedSeconds } from './jobsModel';

export class ClusterView implements View {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private ctx!: ViewContext;
  private queueCount = 0;

  constructor() {
    this.body = h('div', { class: 'cluster-body' });
    const refresh = h('vscode-button', { appearance: 'secondary', id: 'cluster-refresh' }, 'Refresh');
    refresh.addEventListener('click', () => this.activate(this.ctx));
    this.element = h('div', { class: 'cluster-view' }, h('div', { class: 'toolbar' }, refresh), this.body);
  }

  activate(ctx: ViewContext): void {
    this.ctx = ctx;
    ctx.actions.load('clusters');
    for (const c of ctx.store.clusters?.clusters ?? []) ctx.actions.load('partitions', { cluster: c.name });
  }

  report() {
    return { total: this.ctx?.store.clusters?.clusters.length ?? 0, shown: this.queueCount, rowIds: (this.ctx?.store.clusters?.clusters ?? []).map((c) => c.name) };
  }

  render(ctx: ViewContext): void {
    const first = this.ctx?.store.clusters === null;
    this.ctx = ctx;
    const { store } = ctx;
    // The clusters arrived after activation: ask for their partitions now.
    if (first && store.clusters) for (const c of store.clusters.clusters) if (!store.partitions.has(c.name)) ctx.actions.load('partitions', { cluster: c.name });
    // Charts of the previous render are released before their canvases go.
    destroyChartsIn(this.body);
    clear(this.body);
    const o = store.clusters;
    if (!o) {
      this.body.appendChild(h('p', null, 'Loading…'));
      return;
    }
    if (o.clusters.length === 0) this.body.appendChild(h('p', null, 'No cluster yet. Add one with "Slurm ML: Add Cluster…".'));
    this.queueCount = 0;
    for (const c of o.clusters) {
      const b = o.budgets.find((x) => x.name === c.name);
      const conn = c.connection;
      const queue = [...store.jobs.values()].filter((j) => j.cluster === c.name && !j.terminal).sort((a, z) => (z.submitTime ?? '').localeCompare(a.submitTime ?? ''));
      this.queueCount += queue.length;
      const section = h('section', { class: 'cluster', 'aria-label': `Cluster ${c.name}` }, h('h2', null, c.name, ' ', h('span', { class: `conn conn-${conn.status}` }, conn.status)));
      append(section, [
        h(
          'dl',
          { class: 'facts' },
          h('dt', null, 'SSH'),
          h('dd', null, `${c.sshAlias ? `alias ${c.sshAlias}` : `${c.user ?? ''}@${c.host ?? ''}:${c.port ?? 22}`} · ${conn.status} since ${dateTime(conn.since)}${conn.retryAt ? ` · retry at ${dateTime(conn.retryAt)}` : ''}`),
          conn.message ? h('dt', null, 'Last problem') : null,
          conn.message ? h('dd', { class: 'fail' }, conn.message) : null,
          h('dt', null, 'Poll budget'),
          h(
            'dd',
            null,
            b
              ? `${b.commandsLastMinute} SLURM command(s) and ${b.connectionsLastMinute}/${b.connectionsPerMinuteCap} new connection(s) in the last minute · polling every ${duration(b.pollIntervalMs / 1000)} · last ${dateTime(b.lastPollAt)} · next ${dateTime(b.nextPollAt)}${b.paused ? ` · paused: ${b.paused}` : ''}`
              : '—',
          ),
        ),
      ]);
      const parts = store.partitions.get(c.name);
      section.appendChild(h('h3', null, 'Partitions', parts ? h('span', { class: 'muted' }, ` (sinfo at ${dateTime(parts.at)})`) : ''));
      if (!parts) section.appendChild(h('p', null, 'Loading…'));
      else {
        const canvas = h('canvas', { role: 'img', 'aria-label': `Nodes by state per partition of ${c.name}: ${parts.partitions.map((p) => `${p.name} ${p.nodesByState?.allocated ?? 0} allocated, ${p.nodesByState?.idle ?? 0} idle, ${p.nodesByState?.other ?? 0} other`).join('; ')}` });
        section.appendChild(h('div', { class: 'chart-small' }, canvas));
        chart(canvas, (p) => ({
          type: 'bar',
          data: {
            labels: parts.partitions.map((x) => x.name + (x.isDefault ? '*' : '')),
            datasets: [
              { label: 'allocated', data: parts.partitions.map((x) => x.nodesByState?.allocated ?? 0), backgroundColor: p.series[0] },
              { label: 'idle', data: parts.partitions.map((x) => x.nodesByState?.idle ?? 0), backgroundColor: p.ok },
              { label: 'other (down, drained…)', data: parts.partitions.map((x) => x.nodesByState?.other ?? 0), backgroundColor: p.bad },
            ],
          },
          options: { indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'nodes' } }, y: { stacked: true } } },
        }));
        section.appendChild(
          table(
            `Partitions of ${c.name}`,
            ['Partition', 'State', 'Nodes (alloc/idle/other/total)', 'CPUs (alloc/idle/other/total)', 'CPUs/node', 'Memory/node', 'Max time', 'GRES', 'Nodes'],
            parts.partitions.map((p) => [
              p.name + (p.isDefault ? ' (default)' : ''),
              p.avail,
              p.nodesByState ? `${p.nodesByState.allocated}/${p.nodesByState.idle}/${p.nodesByState.other}/${p.nodesByState.total}` : String(p.nodes),
              p.cpusByState ? `${p.cpusByState.allocated}/${p.cpusByState.idle}/${p.cpusByState.other}/${p.cpusByState.total}` : '—',
              p.minCpusPerNode === p.maxCpusPerNode ? String(p.minCpusPerNode ?? '—') : `${p.minCpusPerNode}–${p.maxCpusPerNode}`,
              p.minMemoryPerNodeMb === null ? '—' : `${Math.round(p.minMemoryPerNodeMb)} MB`,
              p.maxTimeUnlimited ? 'unlimited' : duration(p.maxTimeSeconds),
              p.gres.join(', ') || '—',
              p.nodeLists.join(', '),
            ]),
          ),
        );
      }
      section.appendChild(h('h3', null, `Your queue (${queue.length})`));
      section.appendChild(
        queue.length
          ? table(`Active jobs on ${c.name}`, ['SLURM id', 'Name', 'State', 'Reason', 'Partition', 'Elapsed'], queue.slice(0, 200).map((j) => [j.slurmJobId ?? '—', j.name, j.state, j.reason ?? '', j.partition ?? '—', duration(elapsedSeconds(j, Date.now()))]))
          : h('p', { class: 'muted' }, 'Nothing queued or running.'),
      );
      this.body.appendChild(section);
    }
  }
}
