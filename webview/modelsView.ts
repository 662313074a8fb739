// Models: each model's versions with their aliases, the metrics of chosen
// versions side by side, the gates with every rule's numbers, the alias
// history, and a version's lineage (training job -> version -> evaluations ->
// predictions).
import type { View, ViewContext } from './context';
import { append, clear, h, table } from './dom';
import { dateTime, metric } from './format';

export class ModelsView implements View {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly main: HTMLElement;
  private ctx!: ViewContext;
  private shownVersions = 0;

  constructor() {
    this.list = h('nav', { class: 'model-list', 'aria-label': 'Models' });
    this.main = h('div', { class: 'model-main' });
    this.element = h('div', { class: 'models-view' }, this.list, this.main);
  }

  activate(ctx: ViewContext): void {
    this.ctx = ctx;
    ctx.actions.load('models');
    if (ctx.ui.model) ctx.actions.load('model', { name: ctx.ui.model });
    if (ctx.ui.model && ctx.ui.lineageVersion) ctx.actions.load('lineage', { ref: `${ctx.ui.model}@v${ctx.ui.lineageVersion}` });
  }

  report() {
    return { total: this.ctx?.store.models?.length ?? 0, shown: this.shownVersions, rowIds: (this.ctx?.store.models ?? []).map((m) => m.name).slice(0, 200) };
  }

  private choose(name: string): void {
    this.ctx.ui.model = name;
    this.ctx.ui.compare = [];
    this.ctx.ui.lineageVersion = null;
    this.ctx.saveUi();
    this.ctx.actions.load('model', { name });
    this.ctx.invalidate();
  }

  render(ctx: ViewContext): void {
    this.ctx = ctx;
    const { store, ui } = ctx;
    clear(this.list);
    if (!store.models) append(this.list, [h('p', null, 'Loading…')]);
    else if (store.models.length === 0) append(this.list, [h('p', null, 'No models yet. Train one with "Slurm ML: Train Model…".')]);
    else {
      const ul = h('ul', { role: 'list' });
      for (const m of store.models) {
        const b = h('button', { type: 'button', class: `link${m.name === ui.model ? ' current' : ''}`, 'aria-current': m.name === ui.model ? 'true' : null }, m.name);
        b.addEventListener('click', () => this.choose(m.name));
        const aliases = Object.entries(m.aliases).map(([a, v]) => h('span', { class: 'badge', title: `${a} → v${v}` }, `${a} v${v}`));
        ul.appendChild(h('li', null, b, h('span', { class: 'muted' }, ` ${m.versions} version(s) `), ...aliases));
      }
      this.list.appendChild(ul);
    }
    clear(this.main);
    const d = store.model && store.model.model.name === ui.model ? store.model : null;
    if (!ui.model) {
      this.main.appendChild(h('p', { class: 'muted' }, 'Choose a model.'));
      this.shownVersions = 0;
      return;
    }
    if (!d) {
      this.main.appendChild(h('p', null, 'Loading…'));
      return;
    }
    this.shownVersions = d.versions.length;
    const compare = ui.compare.length ? ui.compare : defaultCompare(d);
    // Versions, with a checkbox each for the comparison.
    const rows = d.versions.map((v) => {
      const cb = h('vscode-checkbox', { checked: compare.includes(v.version), 'aria-label': `Compare v${v.version}`, 'data-version': v.version });
      cb.addEventListener('change', () => {
        const on = (cb as HTMLInputElement).checked;
        const cur = new Set(ui.compare.length ? ui.compare : compare);
        if (on) cur.add(v.version);
        else cur.delete(v.version);
        ui.compare = [...cur].sort((a, b) => b - a);
        this.ctx.saveUi();
        this.ctx.invalidate();
      });
      const lin = h('button', { type: 'button', class: 'link' }, 'lineage');
      lin.addEventListener('click', () => {
        ui.lineageVersion = v.version;
        this.ctx.saveUi();
        this.ctx.actions.load('lineage', { ref: `${d.model.name}@v${v.version}` });
        this.ctx.invalidate();
      });
      return [cb, `v${v.version}`, h('span', null, ...v.aliases.map((a) => h('span', { class: 'badge' }, a))), dateTime(v.createdAt), v.cluster, v.gitCommit?.slice(0, 10) ?? '—', Object.entries(v.tags).map(([k, x]) => `${k}=${x}`).join(' '), lin];
    });
    append(this.main, [
      h('h2', null, d.model.name, h('span', { class: 'muted' }, ` ${d.totalVersions} version(s)`)),
      h('h3', null, 'Versions'),
      table(`Versions of ${d.model.name}`, ['Compare', 'Version', 'Aliases', 'Created', 'Cluster', 'Commit', 'Tags', ''], rows),
    ]);
    if (d.totalVersions > d.versions.length) this.main.appendChild(h('p', { class: 'muted' }, `The newest ${d.versions.length} of ${d.totalVersions} versions.`));

    // Metrics side by side.
    const chosen = d.versions.filter((v) => compare.includes(v.version));
    if (chosen.length) {
      const names = [...new Set(chosen.flatMap((v) => [...Object.keys(v.metrics), ...Object.keys(v.evaluation ?? {}).map((k) => `eval:${k}`)]))].sort();
      const mrows = names.map((n) => [n, ...chosen.map((v) => metric(n.startsWith('eval:') ? v.evaluation?.[n.slice(5)] : v.metrics[n]))]);
      append(this.main, [h('h3', null, 'Metrics side by side'), table('Metrics of the chosen versions (eval: from the latest evaluation)', ['Metric', ...chosen.map((v) => `v${v.version}${v.aliases.length ? ` (${v.aliases.join(', ')})` : ''}`)], mrows)]);
    }

    // Gates.
    append(this.main, [h('h3', null, 'Gates'), h('p', { class: 'muted' }, `Rules: ${d.rules.map((r) => `${r.metric} ${r.direction === 'higher' ? '≥' : '≤'} baseline ${r.direction === 'higher' ? '−' : '+'} ${r.tolerance}${r.mode === 'relative' ? ' (relative)' : ''}`).join('; ') || 'none'}`)]);
    if (d.gates.length === 0) this.main.appendChild(h('p', { class: 'muted' }, 'No gate has run yet.'));
    for (const g of d.gates.slice(0, 10)) {
      append(this.main, [
        h('h4', null, `v${g.candidate} against v${g.baseline}: `, h('span', { class: g.pass ? 'pass' : 'fail' }, g.pass ? 'passed' : 'failed'), h('span', { class: 'muted' }, ` ${dateTime(g.at)}`)),
        table(
          `Gate v${g.candidate} against v${g.baseline}`,
          ['Rule', 'Candidate', 'Baseline', 'Limit', 'Result', 'Detail'],
          g.rules.map((r) => [`${r.metric} (${r.direction}, ${r.tolerance} ${r.mode})`, metric(r.candidate), metric(r.baseline), metric(r.limit), h('span', { class: r.pass ? 'pass' : 'fail' }, r.pass ? 'pass' : 'fail'), r.detail]),
        ),
      ]);
    }

    // Alias history.
    append(this.main, [
      h('h3', null, 'Alias history'),
      d.history.length
        ? table('Alias moves, newest first', ['When', 'Alias', 'From', 'To', 'Action', 'Who', 'Why', 'Forced'], d.history.map((m) => [dateTime(m.at), m.alias, m.fromVersion === null ? '—' : `v${m.fromVersion}`, m.toVersion === null ? '—' : `v${m.toVersion}`, m.action, m.who, m.why ?? '', m.forced ? 'forced' : '']))
        : h('p', { class: 'muted' }, 'No alias has moved yet.'),
    ]);

    // Lineage.
    const lin = store.lineage && store.lineage.version.model === d.model.name && store.lineage.version.version === ui.lineageVersion ? store.lineage : null;
    if (ui.lineageVersion) {
      this.main.appendChild(h('h3', null, `Lineage of v${ui.lineageVersion}`));
      if (!lin) this.main.appendChild(h('p', null, 'Loading…'));
      else {
        const job = (label: string, j: { name: string; slurmJobId: string | null; state: string; cluster: string; endTime: string | null } | null) =>
          h('li', null, h('strong', null, label), ' ', j ? `${j.name} (${j.cluster} #${j.slurmJobId ?? '—'}, ${j.state}, ${dateTime(j.endTime)})` : '—');
        append(this.main, [
          h(
            'ol',
            { class: 'lineage', 'aria-label': 'Lineage' },
            job('Training job', lin.trainingJob),
            h('li', null, h('strong', null, 'Version'), ` v${lin.version.version} · ${lin.version.artifactPath} · ${lin.version.artifacts.length} file(s)`),
            h('li', null, h('strong', null, `Evaluations (${lin.evaluations.length})`), h('ul', null, ...lin.evaluations.map((e) => job('', e)))),
            h('li', null, h('strong', null, `Predictions (${lin.predictions.length})`), h('ul', null, ...lin.predictions.map((e) => job('', e)))),
          ),
        ]);
      }
    }
  }
}

/** Without a choice: the version `prod` holds and the newest. */
function defaultCompare(d: { versions: { version: number; aliases: string[] }[] }): number[] {
  const prod = d.versions.find((v) => v.aliases.includes('prod'));
  const latest = d.versions[0];
  return [...new Set([latest?.version, prod?.version].filter((x): x is number => x !== undefined))];
}
