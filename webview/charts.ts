// Charts (chart.js, bundled: no CDN). Colours come from the editor's theme
// variables and are re-read when the theme changes; no animation, so a chart
// is drawn once per update.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LogarithmicScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LogarithmicScale, LineController, LineElement, PointElement, ScatterController, Legend, Tooltip);

export interface Palette {
  fg: string;
  grid: string;
  series: string[];
  ok: string;
  bad: string;
  warn: string;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export function palette(): Palette {
  return {
    fg: cssVar('--vscode-foreground', '#cccccc'),
    grid: cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', '#80808050')),
    series: [
      cssVar('--vscode-charts-blue', '#3794ff'),
      cssVar('--vscode-charts-orange', '#d18616'),
      cssVar('--vscode-charts-green', '#89d185'),
      cssVar('--vscode-charts-purple', '#b180d7'),
      cssVar('--vscode-charts-yellow', '#cca700'),
      cssVar('--vscode-charts-red', '#f14c4c'),
    ],
    ok: cssVar('--vscode-charts-green', '#89d185'),
    bad: cssVar('--vscode-charts-red', '#f14c4c'),
    warn: cssVar('--vscode-charts-yellow', '#cca700'),
  };
}

const live = new Set<Chart>();

/** Creates or updates the chart on `canvas`; `build` gets the current palette. */
export function chart(canvas: HTMLCanvasElement, build: (p: Palette) => ChartConfiguration): Chart {
  const p = palette();
  const config = build(p);
  config.options = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    ...config.options,
    color: p.fg,
  };
  const scales = (config.options as { scales?: Record<string, { ticks?: object; grid?: object; title?: object }> }).scales ?? {};
  for (const s of Object.values(scales)) {
    s.ticks = { color: p.fg, ...s.ticks };
    s.grid = { color: p.grid, ...s.grid };
    if (s.title) s.title = { color: p.fg, ...s.title };
  }
  const existing = Chart.getChart(canvas);
  if (existing) {
    existing.config.data = config.data;
    existing.config.options = config.options;
    existing.update('none');
    return existing;
  }
  const c = new Chart(canvas, config);
  live.add(c);
  return c;
}

export function destroyChartsIn(el: Element): void {
  for (const canvas of el.querySelectorAll('canvas')) {
    const c = Chart.getChart(canvas);
    if (c) {
      live.delete(c);
      c.destroy();
    }
  }
}

/** The editor switched theme: body's class changes; charts are re-coloured by their owners' next render. */
export function onThemeChange(fn: () => void): void {
  let last = document.body.className;
  new MutationObserver(() => {
    if (document.body.className !== last) {
      last = document.body.className;
      fn();
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
