// What every view gets: the store, the UI state, and the actions it may ask
// for. Views never post messages themselves; main.ts wires these to
// messaging.ts.
import type { Store, UiState } from './store';
import type { BatchRow, WebviewToHost } from './protocol';

type LoadWhat = Extract<WebviewToHost, { type: 'load' }>['what'];
type JobAction = Extract<WebviewToHost, { type: 'action' }>['action'];

export interface Actions {
  load(what: LoadWhat, args?: { cluster?: string; name?: string; ref?: string }): void;
  followLog(jobId: string | null): void;
  jobAction(action: JobAction, jobId: string): void;
  batchEstimate(cluster: string, rows: BatchRow[]): string;
  saveFile(name: string, content: string): void;
}

export interface ViewContext {
  store: Store;
  ui: UiState;
  actions: Actions;
  /** Persist the UI state (VS Code keeps it across hide and restore). */
  saveUi(): void;
  /** Ask for a render of the active view on the next frame. */
  invalidate(): void;
}

export interface View {
  readonly element: HTMLElement;
  /** Called when the view becomes visible (load what it needs). */
  activate(ctx: ViewContext): void;
  render(ctx: ViewContext): void;
  /** What a render showed: for the extension's log and tests. */
  report(): { total: number; shown: number; rowIds: string[] };
  /** The editor's theme changed: charts must be drawn again with its colours. */
  themeChanged?(): void;
}
