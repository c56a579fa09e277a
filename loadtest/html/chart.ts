// One line chart as inline SVG, drawn here rather than by a library: the report must open
// offline, and its figures must be the ones in result.json. Each series is a <path> (a gap
// where a value is missing); hover data for the page's small script rides along as JSON.

import { type Axis, position } from "./scale.ts";

export interface Series {
  name: string;
  color: string;
  /** [x, y]; y null or not finite leaves a gap. */
  points: readonly (readonly [number, number | null])[];
  dash?: string;
}

export interface Marker {
  x: number;
  label: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  x: Axis;
  y: Axis;
  series: Series[];
  markers?: Marker[];
  /** The hover read-outs: x and y values as text. */
  formatX(x: number): string;
  formatY(y: number): string;
}

const WIDTH = 960;
const HEIGHT = 320;
const MARGIN = { left: 74, right: 16, top: 14, bottom: 44 } as const;
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const px = (a: Axis, v: number) => MARGIN.left + position(a, v) * PLOT_W;
const py = (a: Axis, v: number) => MARGIN.top + PLOT_H - position(a, v) * PLOT_H;
const r1 = (v: number) => Math.round(v * 10) / 10;

/** Half the width of the dash that stands for a point with no neighbour to join (px). */
const LONE_POINT_HALF_PX = 4;

/**
 * The path of a series: M at the start and after each gap, L otherwise; a point alone between
 * gaps (a run whose every claim fell in one second) is a short horizontal dash.
 */
export function pathOf(spec: Pick<ChartSpec, "x" | "y">, points: Series["points"]): string {
  const runs: [number, number][][] = [];
  let run: [number, number][] = [];
  for (const [x, y] of points) {
    if (y === null || !Number.isFinite(y) || (spec.y.log && y <= 0)) {
      if (run.length > 0) runs.push(run);
      run = [];
      continue;
    }
    run.push([r1(px(spec.x, x)), r1(py(spec.y, y))]);
  }
  if (run.length > 0) runs.push(run);
  return runs
    .map((r) => (r.length === 1 ? `M${r1(r[0][0] - LONE_POINT_HALF_PX)},${r[0][1]}L${r1(r[0][0] + LONE_POINT_HALF_PX)},${r[0][1]}` : r.map(([x, y], i) => `${i === 0 ? "M" : "L"}${x},${y}`).join("")))
    .join("");
}

export function renderChart(spec: ChartSpec): string {
  const { x, y } = spec;
  const grid: string[] = [];
  for (const t of y.ticks) {
    const yy = r1(py(y, t.value));
    grid.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${yy}" y2="${yy}"/>`);
    grid.push(`<text class="tick" x="${MARGIN.left - 6}" y="${yy + 4}" text-anchor="end">${escapeHtml(t.label)}</text>`);
  }
  for (const t of x.ticks) {
    const xx = r1(px(x, t.value));
    grid.push(`<line class="grid" x1="${xx}" x2="${xx}" y1="${MARGIN.top}" y2="${MARGIN.top + PLOT_H}"/>`);
    grid.push(`<text class="tick" x="${xx}" y="${MARGIN.top + PLOT_H + 16}" text-anchor="middle">${escapeHtml(t.label)}</text>`);
  }
  // Labels of neighbouring markers go on staggered rows, so close events stay readable.
  const markers = (spec.markers ?? []).map((m, i) => {
    const xx = r1(px(x, m.x));
    return `<g class="marker"><line x1="${xx}" x2="${xx}" y1="${MARGIN.top}" y2="${MARGIN.top + PLOT_H}"/><text x="${xx + 3}" y="${MARGIN.top + 10 + (i % 3) * 12}">${escapeHtml(m.label)}</text></g>`;
  });
  const paths = spec.series.map(
    (s) =>
      `<path class="series" data-series="${escapeHtml(s.name)}" d="${pathOf(spec, s.points)}" stroke="${s.color}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`,
  );
  const hover = spec.series.map((s) => ({
    name: s.name,
    color: s.color,
    points: s.points
      .filter(([, v]) => v !== null && Number.isFinite(v))
      .map(([xv, yv]) => [r1(px(x, xv)), spec.formatX(xv), spec.formatY(yv as number)]),
  }));
  const legend = spec.series
    .map((s) => `<span class="key"><i style="background:${s.color}"></i>${escapeHtml(s.name)}</span>`)
    .join("");
  return `<figure class="chart" id="${spec.id}">
<figcaption>${escapeHtml(spec.title)}</figcaption>
<div class="legend">${legend}</div>
<div class="plot">
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeHtml(spec.title)}">
<g class="axes">${grid.join("")}
<text class="title" x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 6}" text-anchor="middle">${escapeHtml(x.title)}</text>
<text class="title" transform="translate(14 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(y.title)}</text>
<rect class="frame" x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}"/></g>
${markers.join("")}
<g class="lines">${paths.join("")}</g>
<line class="cursor" x1="0" x2="0" y1="${MARGIN.top}" y2="${MARGIN.top + PLOT_H}" visibility="hidden"/>
<rect class="hover" x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}"/>
</svg>
<div class="tip" hidden></div>
</div>
<script type="application/json" class="hover-data">${JSON.stringify(hover).replace(/</g, "\\u003c")}</script>
</figure>`;
}
