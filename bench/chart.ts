/**
 * The PNG chart: wall time and peak RSS against image size, one line per contender.
 * Drawn as SVG here (no chart library needed for two line plots) and rasterised by sharp,
 * which renders SVG through librsvg.
 */
import sharp from 'sharp';
import type { BenchResults } from './results.js';

const W = 1200;
const H = 520;
// Ten, so that every line of a default run (eight contenders, two first-view figures) has its own.
const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const MEMORY_TARGET_MB = 300;

interface Series {
  label: string;
  points: Array<[number, number]>;
  dashed?: boolean;
}

export async function writeChart(r: BenchResults, pngPath: string): Promise<void> {
  await sharp(Buffer.from(chartSvg(r))).png().toFile(pngPath);
}

export function chartSvg(r: BenchResults): string {
  const contenders = [...new Set(r.results.map((c) => c.contender))];
  const series = (value: (c: BenchResults['results'][number]) => number | undefined): Series[] =>
    contenders.map((id) => {
      const rows = r.results.filter((c) => c.contender === id).sort((a, b) => a.megapixels - b.megapixels);
      return { label: rows[0]!.label, points: rows.flatMap((c) => (value(c) === undefined ? [] : [[c.megapixels, value(c)!] as [number, number]])) };
    });
  const time = series((c) => c.wallS.median);
  const serviceFigure = (label: string, value: (c: BenchResults['results'][number]) => number | undefined): Series[] => {
    // The MinIO stack's figures only: one line per figure (service-path-versitygw has them too).
    const rows = r.results.filter((c) => c.contender === 'service-path' && value(c) !== undefined).sort((a, b) => a.megapixels - b.megapixels);
    return rows.length > 0 ? [{ label, dashed: true, points: rows.map((c) => [c.megapixels, value(c)!] as [number, number]) }] : [];
  };
  const firstView = [
    ...serviceFigure('service path: first view', (c) => c.firstViewS?.median),
    ...serviceFigure('service path: preview shown', (c) => c.previewS?.median),
  ];
  const memory = series((c) => c.peakRssMB.median);
  const hard = r.memoryCurve.filter((p) => p.hugemapTile).map((p) => [p.megapixels, p.hugemapTile!.peakRssMB] as [number, number]);
  const hardWorker = r.memoryCurve.filter((p) => p.worker).map((p) => [p.megapixels, p.worker!.peakRssMB] as [number, number]);
  const title = `hugemap benchmark${r.meta.quick ? ' (--quick)' : ''}: median of ${r.meta.runs} run(s), ${r.meta.machine.cpus} cores`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="13">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${esc(title)}</text>` +
    panel(40, 'wall seconds vs image size (MP)', [...time, ...firstView], [], undefined) +
    panel(W / 2 + 20, 'peak RSS MB vs image size (MP); dots: every input incl. hard cases', memory, [
      { label: 'hugemap tile, all inputs', points: hard },
      { label: 'worker, all inputs', points: hardWorker },
    ], MEMORY_TARGET_MB) +
    `</svg>`
  );
}

function panel(x0: number, title: string, lines: Series[], dots: Series[], target: number | undefined): string {
  const pw = W / 2 - 80;
  const ph = H - 190;
  const top = 60;
  const all = [...lines, ...dots].flatMap((s) => s.points);
  const maxX = niceMax(Math.max(1, ...all.map((p) => p[0])));
  const maxY = niceMax(Math.max(1, target ?? 0, ...all.map((p) => p[1])));
  const sx = (v: number) => x0 + 50 + (v / maxX) * (pw - 50);
  const sy = (v: number) => top + ph - (v / maxY) * ph;
  let s = `<text x="${x0 + pw / 2}" y="${top - 12}" text-anchor="middle">${esc(title)}</text>`;
  s += `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(maxX)}" y2="${sy(0)}" stroke="#333"/><line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(0)}" y2="${sy(maxY)}" stroke="#333"/>`;
  for (let i = 0; i <= 5; i++) {
    const yv = (maxY / 5) * i;
    const xv = (maxX / 5) * i;
    s += `<line x1="${sx(0)}" y1="${sy(yv)}" x2="${sx(maxX)}" y2="${sy(yv)}" stroke="#eee"/>`;
    s += `<text x="${sx(0) - 6}" y="${sy(yv) + 4}" text-anchor="end" font-size="11">${fmt(yv)}</text>`;
    s += `<text x="${sx(xv)}" y="${sy(0) + 16}" text-anchor="middle" font-size="11">${fmt(xv)}</text>`;
  }
  if (target !== undefined) {
    s += `<line x1="${sx(0)}" y1="${sy(target)}" x2="${sx(maxX)}" y2="${sy(target)}" stroke="#d00" stroke-dasharray="6 4"/>`;
    s += `<text x="${sx(maxX) - 4}" y="${sy(target) - 4}" text-anchor="end" fill="#d00" font-size="11">target ${target} MB</text>`;
  }
  const legend: string[] = [];
  lines.forEach((line, i) => {
    const c = COLOURS[i % COLOURS.length]!;
    const pts = line.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    s += `<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"${line.dashed ? ' stroke-dasharray="5 3"' : ''}/>`;
    for (const [x, y] of line.points) s += `<circle cx="${sx(x)}" cy="${sy(y)}" r="3.5" fill="${c}"/>`;
    legend.push(`<rect x="0" y="${-9}" width="14" height="3" fill="${c}"/><text x="20" y="0">${esc(line.label)}</text>`);
  });
  dots.forEach((d, i) => {
    const c = i === 0 ? '#000' : '#888';
    for (const [x, y] of d.points) s += `<circle cx="${sx(x)}" cy="${sy(y)}" r="4" fill="none" stroke="${c}" stroke-width="1.5"/>`;
    if (d.points.length > 0) legend.push(`<circle cx="7" cy="-5" r="4" fill="none" stroke="${c}" stroke-width="1.5"/><text x="20" y="0">${esc(d.label)}</text>`);
  });
  legend.forEach((l, i) => {
    const col = i % 2;
    const row = Math.floor(i / 2);
    s += `<g transform="translate(${x0 + 50 + col * (pw / 2)}, ${top + ph + 40 + row * 18})" font-size="12">${l}</g>`;
  });
  return s;
}

function niceMax(v: number): number {
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v * 1.05) return m * exp;
  return 10 * exp;
}

function fmt(v: number): string {
  return v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
