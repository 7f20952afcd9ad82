// Line charts ("how cost grows") drawn into the bench SVG below its bars (bench/render.ts): one
// panel per curve set, two panels a row, each series a polyline with its points marked and
// labelled. Pure functions of their input, no dependencies.
import { formatFigure } from './stats.js';

interface CurveSeries {
  name: string;
  points: Array<{ x: number; y: number }>;
}

export interface CurvePanel {
  title: string;
  xLabel: string;
  yUnit: string;
  /** A log x axis (namespace sizes 5k…1M); linear otherwise. */
  logX: boolean;
  series: CurveSeries[];
}

const PANEL_W = 440;
const PANEL_H = 230;
const PAD = { left: 56, right: 16, top: 28, bottom: 64 };
const COLOURS = ['#4c78a8', '#e76f51', '#2a9d8f', '#9c755f', '#b279a2', '#f2a541', '#555555', '#72b7b2'];

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Height the panels take, in pixels. */
export function curvesHeight(panels: readonly CurvePanel[]): number {
  return Math.ceil(panels.length / 2) * PANEL_H;
}

/** The panels' SVG elements, laid out from (x0, y0). */
export function curvesSvg(panels: readonly CurvePanel[], x0: number, y0: number): string[] {
  const out: string[] = [];
  panels.forEach((panel, index) => {
    const px = x0 + (index % 2) * PANEL_W;
    const py = y0 + Math.floor(index / 2) * PANEL_H;
    out.push(...panelSvg(panel, px, py));
  });
  return out;
}

function panelSvg(panel: CurvePanel, px: number, py: number): string[] {
  const out: string[] = [];
  const points = panel.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  out.push(`<text x="${px + 4}" y="${py + 16}" font-size="12" font-weight="bold">${xml(panel.title)}</text>`);
  if (points.length === 0) return out;
  const plotW = PANEL_W - PAD.left - PAD.right;
  const plotH = PANEL_H - PAD.top - PAD.bottom;
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const fx = (x: number) => (panel.logX ? Math.log10(Math.max(x, 1e-9)) : x);
  const xMin = fx(xs[0]!);
  const xMax = fx(xs[xs.length - 1]!);
  const yMax = Math.max(...points.map((p) => p.y)) * 1.1 || 1;
  const sx = (x: number) => px + PAD.left + (xMax === xMin ? plotW / 2 : ((fx(x) - xMin) / (xMax - xMin)) * plotW);
  const sy = (y: number) => py + PAD.top + plotH - (Math.max(0, y) / yMax) * plotH;
  const bottom = py + PAD.top + plotH;
  out.push(
    `<line x1="${px + PAD.left}" y1="${bottom}" x2="${px + PAD.left + plotW}" y2="${bottom}" stroke="#999"/>`,
    `<line x1="${px + PAD.left}" y1="${py + PAD.top}" x2="${px + PAD.left}" y2="${bottom}" stroke="#999"/>`,
  );
  for (const f of [0, 0.5, 1]) {
    const y = yMax * f;
    out.push(`<text x="${px + PAD.left - 4}" y="${sy(y) + 4}" text-anchor="end" fill="#555">${formatFigure(y)}</text>`);
  }
  for (const x of xs)
    out.push(`<text x="${sx(x).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" fill="#555">${tick(x)}</text>`);
  out.push(
    `<text x="${px + PAD.left + plotW / 2}" y="${bottom + 28}" text-anchor="middle" fill="#555">` +
      `${xml(panel.xLabel)}${panel.logX ? ' (log)' : ''} · y: ${xml(panel.yUnit)}</text>`,
  );
  panel.series.forEach((series, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const own = series.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    const path = own.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    for (const p of own)
      out.push(
        `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.5" fill="${colour}">` +
          `<title>${xml(`${series.name} at ${tick(p.x)}: ${formatFigure(p.y)} ${panel.yUnit}`)}</title></circle>`,
      );
    // The legend: one entry per series under the axis label, wrapping after four.
    const lx = px + PAD.left + (i % 4) * 95;
    const ly = bottom + 42 + Math.floor(i / 4) * 12;
    out.push(
      `<rect x="${lx}" y="${ly - 8}" width="8" height="8" fill="${colour}"/>`,
      `<text x="${lx + 11}" y="${ly}" font-size="10">${xml(series.name)}</text>`,
    );
  });
  return out;
}

/** An axis label: 5k, 1M, 128 … */
function tick(x: number): string {
  if (x >= 1e6 && x % 1e5 === 0) return `${x / 1e6}M`;
  if (x >= 1e3 && x % 100 === 0) return `${x / 1e3}k`;
  return formatFigure(x);
}
