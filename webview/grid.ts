// A virtualized grid: only the rows in view (plus a margin) exist in the DOM,
// so 10,000 jobs scroll and re-sort without stalling. ARIA grid semantics
// (rowcount, rowindex, aria-sort, an active descendant) and keyboard
// navigation: arrows, Page Up/Down, Home/End, Enter to open.
import { clear, h } from './dom';

export interface Column<T> {
  key: string;
  title: string;
  width: string;
  sortable: boolean;
  cell: (row: T) => string | Node;
}

export interface GridOptions<T> {
  label: string;
  columns: Column<T>[];
  rowId: (row: T) => string;
  onOpen: (row: T) => void;
  onSort: (key: string) => void;
  onScroll?: (top: number) => void;
}

const ROW_HEIGHT = 26;
const OVERSCAN = 8;

export class VirtualGrid<T> {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly body: HTMLElement;
  private readonly header: HTMLElement;
  private rows: readonly T[] = [];
  private active = -1;
  private selectedId: string | null = null;
  private sort: { key: string; descending: boolean } = { key: '', descending: false };
  private frame = 0;

  constructor(private readonly o: GridOptions<T>) {
    const template = o.columns.map((c) => c.width).join(' ');
    this.header = h('div', { class: 'grid-row grid-head', role: 'row', 'aria-rowindex': 1 });
    this.header.style.gridTemplateColumns = template;
    this.spacer = h('div', { class: 'grid-spacer' });
    this.body = h('div', { class: 'grid-body', role: 'rowgroup' });
    this.viewport = h('div', { class: 'grid-viewport', tabindex: 0 }, this.spacer, this.body);
    this.element = h('div', { class: 'grid', role: 'grid', 'aria-label': o.label, 'aria-colcount': o.columns.length }, h('div', { role: 'rowgroup' }, this.header), this.viewport);
    this.viewport.addEventListener('scroll', () => {
      this.schedule();
      this.o.onScroll?.(this.viewport.scrollTop);
    });
    this.viewport.addEventListener('keydown', (e) => this.key(e));
    this.viewport.addEventListener('click', (e) => {
      const rowEl = (e.target as HTMLElement).closest<HTMLElement>('[data-index]');
      if (!rowEl) return;
      this.setActive(Number(rowEl.dataset.index));
      const row = this.rows[this.active];
      if (row) this.o.onOpen(row);
    });
    this.template = template;
    this.renderHeader();
  }

  private readonly template: string;

  get rowHeight(): number {
    return ROW_HEIGHT;
  }

  setRows(rows: readonly T[], sort: { key: string; descending: boolean }, selectedId: string | null): void {
    this.rows = rows;
    this.selectedId = selectedId;
    if (sort.key !== this.sort.key || sort.descending !== this.sort.descending) {
      this.sort = { ...sort };
      this.renderHeader();
    }
    this.element.setAttribute('aria-rowcount', String(rows.length + 1));
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    if (this.active >= rows.length) this.active = rows.length - 1;
    this.paint();
  }

  scrollTo(top: number): void {
    this.viewport.scrollTop = top;
    this.paint();
  }

  /** Ids of the rows now in the DOM, in order (what a person sees). */
  visibleIds(): string[] {
    return [...this.body.children].map((r) => (r as HTMLElement).dataset.id ?? '');
  }

  focus(): void {
    this.viewport.focus();
  }

  private renderHeader(): void {
    clear(this.header);
    for (const [i, c] of this.o.columns.entries()) {
      const sorted = this.sort.key === c.key;
      const ariaSort = sorted ? (this.sort.descending ? 'descending' : 'ascending') : c.sortable ? 'none' : null;
      const content = c.sortable
        ? h('button', { class: 'sort', type: 'button', 'data-sort': c.key, title: `Sort by ${c.title}`, onclick: () => this.o.onSort(c.key) }, c.title, sorted ? (this.sort.descending ? ' ▼' : ' ▲') : '')
        : c.title;
      this.header.appendChild(h('div', { role: 'columnheader', 'aria-colindex': i + 1, 'aria-sort': ariaSort }, content));
    }
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  private paint(): void {
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const row = this.rows[i]!;
      const id = this.o.rowId(row);
      const el = h('div', {
        class: `grid-row${i === this.active ? ' active' : ''}${id === this.selectedId ? ' selected' : ''}`,
        role: 'row',
        id: `row-${id}`,
        'aria-rowindex': i + 2,
        'aria-selected': id === this.selectedId ? 'true' : 'false',
        'data-index': i,
        'data-id': id,
      });
      el.style.gridTemplateColumns = this.template;
      el.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
      for (const [c, col] of this.o.columns.entries()) el.appendChild(h('div', { role: 'gridcell', 'aria-colindex': c + 1 }, col.cell(row)));
      frag.appendChild(el);
    }
    clear(this.body);
    this.body.appendChild(frag);
    const activeRow = this.rows[this.active];
    if (activeRow) this.viewport.setAttribute('aria-activedescendant', `row-${this.o.rowId(activeRow)}`);
    else this.viewport.removeAttribute('aria-activedescendant');
  }

  private setActive(i: number): void {
    if (this.rows.length === 0) return;
    this.active = Math.max(0, Math.min(this.rows.length - 1, i));
    const top = this.active * ROW_HEIGHT;
    const vh = this.viewport.clientHeight;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + ROW_HEIGHT > this.viewport.scrollTop + vh) this.viewport.scrollTop = top + ROW_HEIGHT - vh;
    this.paint();
  }

  private key(e: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) this.setActive((this.active < 0 ? -1 : this.active) + moves[e.key]!);
    else if (e.key === 'Home') this.setActive(0);
    else if (e.key === 'End') this.setActive(this.rows.length - 1);
    else if (e.key === 'Enter' || e.key === ' ') {
      const row = this.rows[this.active];
      if (row) this.o.onOpen(row);
    } else return;
    e.preventDefault();
  }
}
