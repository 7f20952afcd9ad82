// Renders benchmark rows as a markdown table and as a hand-written SVG bar chart (no
// dependencies). Pure functions of the rows: the same rows always render the same text.
import { type CurvePanel, curvesHeight, curvesSvg } from './render-curves.js';
import { formatFigure } from './stats.js';
import type { BenchRow, MachineInfo } from './types.js';

/** `key=value` pairs of a row's config, in insertion order. */
export function configText(config: BenchRow['config']): string {
  return Object.entries(config)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** One line describing the machine and allocator of a run. */
function machineLine(machine: MachineInfo, allocator: Record<string, string>): string {
  const alloc =
    Object.keys(allocator).length === 0
      ? 'glibc defaults'
      : Object.entries(allocator)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
  return (
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, ` +
    `kernel ${machine.kernel}, Node ${machine.node}. Allocator (servers and load generators): ${alloc}.`
  );
}

/** A markdown table of the rows (one line per row), preceded by the machine line. */
export function markdownTable(rows: readonly BenchRow[]): string {
  const lines: string[] = [];
  if (rows.length > 0) {
    lines.push(machineLine(rows[0]!.machine, rows[0]!.allocator));
    const loads = rows.map((r) => r.load1).filter((l) => Number.isFinite(l));
    if (loads.length > 0)
      lines.push(
        `1-minute load average while measuring: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} ` +
          `on ${rows[0]!.machine.cpus} CPUs.`,
      );
    lines.push('');
  }
  lines.push('| suite | case | config | throughput | unit | p50 ms | p99 ms | ratio | to limit |');
  lines.push('| --- | --- | --- | ---: | --- | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const ratio = r.ratio === null ? (r.limitName === null ? 'limit' : '—') : `${formatFigure(r.ratio)}×`;
    const limit = r.limitName === null ? '' : `\`${r.limitName}\` (${formatFigure(r.limitValue)} ${r.unit})`;
    lines.push(
      `| ${r.suite} | ${escapeCell(r.case)} | ${escapeCell(configText(r.config))} | ` +
        `${formatFigure(r.throughput)} | ${r.unit} | ${formatFigure(r.p50Ms)} | ${formatFigure(r.p99Ms)} | ` +
        `${ratio} | ${escapeCell(limit)} |`,
    );
  }
  const notes = rows.filter((r) => r.notes !== undefined && r.notes !== '');
  if (notes.length > 0) {
    lines.push('', 'Notes:');
    for (const r of notes) lines.push(`- ${r.suite} ${r.case}: ${r.notes}`);
  }
  return `${lines.join('\n')}\n`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface SvgOptions {
  title?: string;
  /** Ratios above this are drawn clipped at the right edge (default: 1.25 or the largest ratio ≤ 4). */
  maxRatio?: number;
  /** 'auto' (default) switches to a log axis when some ratio is below 0.05, so tiny bars stay visible. */
  scale?: 'linear' | 'log' | 'auto';
  /** Line charts drawn below the bars (suite scale's "how cost grows"). */
  curves?: readonly CurvePanel[];
}

/**
 * A horizontal bar chart of each measured row's ratio to its raw limit (limits themselves are
 * drawn as full-length grey bars labelled with their value). Ratios make GB/s, IOPS and ops/s
 * comparable on one axis; the absolute figure is printed beside every bar.
 */
export function svgChart(rows: readonly BenchRow[], options: SvgOptions = {}): string {
  const barH = 16;
  const gap = 6;
  const labelW = 330;
  const plotW = 420;
  const valueW = 150;
  const top = 48;
  const width = labelW + plotW + valueW + 20;
  const barsHeight = top + rows.length * (barH + gap) + 40;
  const height = barsHeight + curvesHeight(options.curves ?? []);
  const ratios = rows.map((r) => r.ratio).filter((r): r is number => r !== null && r > 0 && Number.isFinite(r));
  const largest = Math.max(0, ...ratios);
  const maxRatio = options.maxRatio ?? Math.max(1.25, Math.min(4, Math.ceil(largest * 4) / 4));
  const smallest = ratios.length > 0 ? Math.min(...ratios) : 1;
  const log = options.scale === 'log' || ((options.scale ?? 'auto') === 'auto' && smallest < 0.05);
  // Log axis: from the decade below the smallest ratio (not below 1e-4) to maxRatio.
  const minLog = Math.max(-4, Math.floor(Math.log10(Math.max(smallest, 1e-4)) - 1e-9));
  const scale = (ratio: number): number => {
    if (!log) return (Math.min(ratio, maxRatio) / maxRatio) * plotW;
    if (!(ratio > 0)) return 0;
    const l = Math.min(Math.max(Math.log10(ratio), minLog), Math.log10(maxRatio));
    return ((l - minLog) / (Math.log10(maxRatio) - minLog)) * plotW;
  };
  const ticks: number[] = [];
  if (log) for (let e = minLog; e <= 0; e++) ticks.push(10 ** e);
  else for (let t = 0; t <= maxRatio + 1e-9; t += 0.25) ticks.push(t);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      'font-family="sans-serif" font-size="11">',
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  const title = options.title ?? 'Spindle bench: figure ÷ raw limit measured in the same run';
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">${xml(title)}${log ? ' (log scale)' : ''}</text>`);
  if (rows.length > 0) {
    const m = rows[0]!.machine;
    const gib = (m.memoryBytes / 2 ** 30).toFixed(1);
    const machine = `${m.cpus} × ${m.cpuModel}, ${gib} GiB, kernel ${m.kernel}, Node ${m.node}`;
    out.push(`<text x="10" y="34" fill="#555">${xml(machine)}</text>`);
  }
  // Grid, with 1× emphasised.
  for (const t of ticks) {
    const x = labelW + scale(t);
    const strong = Math.abs(t - 1) < 1e-9;
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${barsHeight - 30}" ` +
        `stroke="${strong ? '#c00' : '#ddd'}" stroke-width="${strong ? 1.5 : 1}"/>`,
    );
    out.push(
      `<text x="${x.toFixed(1)}" y="${barsHeight - 16}" text-anchor="middle" fill="#555">${formatTick(t)}×</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = top + i * (barH + gap);
    const isLimit = r.limitName === null;
    const ratio = isLimit ? 1 : (r.ratio ?? 0);
    const colour = isLimit ? '#bbbbbb' : ratio >= 1 ? '#2a9d8f' : ratio >= 0.5 ? '#4c78a8' : '#e76f51';
    out.push(`<text x="${labelW - 6}" y="${y + barH - 4}" text-anchor="end">${xml(`${r.suite} ${r.case}`)}</text>`);
    const tip =
      `${r.suite} ${r.case}: ${formatFigure(r.throughput)} ${r.unit}` +
      `${r.ratio === null ? '' : ` = ${formatFigure(r.ratio)}× ${r.limitName}`}`;
    out.push(
      `<rect x="${labelW}" y="${y}" width="${scale(ratio).toFixed(1)}" height="${barH}" fill="${colour}">` +
        `<title>${xml(tip)}</title></rect>`,
    );
    const label =
      `${formatFigure(r.throughput)} ${r.unit}` +
      `${isLimit ? ' (limit)' : r.ratio === null ? '' : ` · ${formatFigure(r.ratio)}×`}`;
    out.push(`<text x="${labelW + plotW + 6}" y="${y + barH - 4}">${xml(label)}</text>`);
  });
  out.push(...curvesSvg(options.curves ?? [], 10, barsHeight));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function formatTick(t: number): string {
  if (Number.isInteger(t)) return String(t);
  return t < 0.01 ? String(Number(t.toPrecision(1))) : t.toFixed(2).replace(/0$/, '');
}
