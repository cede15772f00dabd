/**
 * The run report page: one self-contained HTML file (inline CSS, inline SVG
 * figures drawn by src/report/svg.ts, heat maps as `data:` PNG images; no
 * script, no external reference of any kind), readable offline.
 *
 * `renderReport(data)` is pure: the same ReportData gives the same bytes (no
 * clock, no locale, no randomness; a date appears only when the caller puts
 * one in the summary). Every section has a title and a one-line caption; a
 * section whose data is absent says why. `writeReport(path, data)` writes it
 * atomically (src/io/atomic-file.ts).
 */
import { writeFileAtomic } from '../io/atomic-file.ts';
import { isAbsent, type Absent, type AbsoluteData, type CchalfData, type FilterData, type RadialProfile, type ReportData, type ReportSlice, type ScaleData, type SliceSet, type StillsData } from './data.ts';
import { barPlot, escapeXml, formatNumber, heatMap, linePlot, PALETTE, type LineSeries } from './svg.ts';

const CSS = `
body{font-family:sans-serif;color:#222;margin:0;padding:0 1.5em 3em;max-width:1200px}
h1{font-size:1.5em;margin:.8em 0 .2em}
h2{font-size:1.2em;margin:1.6em 0 .2em;border-bottom:1px solid #ccc;padding-bottom:.15em}
h3{font-size:1em;margin:1em 0 .3em}
p.caption{margin:.1em 0 .8em;color:#555;font-style:italic}
p.sub{margin:0 0 1em;color:#555}
p.absent{color:#a40;background:#fff4e8;border:1px solid #f0c8a0;padding:.4em .6em}
p.note{color:#555;font-size:.9em}
nav a{margin-right:1em;color:#0055aa}
.figs{display:flex;flex-wrap:wrap;gap:.5em 1.5em;align-items:flex-start}
svg.figure{background:#fff}
table{border-collapse:collapse;margin:.3em 0 1em;font-size:.92em}
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f2f2f2}
code{font-size:.95em}
`;

interface SectionSpec {
  id: string;
  title: string;
  caption: string;
  body: string;
}

function sectionHtml(s: SectionSpec): string {
  return `<section id="${s.id}"><h2>${escapeXml(s.title)}</h2><p class="caption">${escapeXml(s.caption)}</p>${s.body}</section>\n`;
}

function absentHtml(a: Absent): string {
  return `<p class="absent">Not available: ${escapeXml(a.absent)}</p>`;
}

/** An integer with thin-space thousands groups (no locale). */
function formatCount(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (!Number.isInteger(v)) return formatNumber(v);
  const s = String(Math.abs(v)).replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009');
  return v < 0 ? `−${s}` : s;
}

function formatPercent(f: number, digits = 2): string {
  return Number.isFinite(f) ? `${(100 * f).toFixed(digits)} %` : '—';
}

function fixed(v: number | null | undefined, digits: number): string {
  return v !== null && v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

function row(label: string, value: string, numeric = true): string {
  return `<tr><th>${escapeXml(label)}</th><td${numeric ? ' class="num"' : ''}>${escapeXml(value)}</td></tr>`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[], numericFrom = 1): string {
  const h = `<tr>${head.map((c) => `<th>${escapeXml(c)}</th>`).join('')}</tr>`;
  const b = rows.map((r) => `<tr>${r.map((c, i) => `<td${i >= numericFrom ? ' class="num"' : ''}>${escapeXml(c)}</td>`).join('')}</tr>`).join('');
  return `<table>${h}${b}</table>`;
}

function color(i: number): string {
  return PALETTE[i % PALETTE.length] as string;
}

// ---------------------------------------------------------------- sections

function summarySection(d: ReportData): SectionSpec {
  const s = d.summary;
  const parts: string[] = [];
  const general: string[] = [];
  if (s.backend !== undefined) general.push(row('backend', s.backend, false));
  if (s.adapter !== undefined) general.push(row('adapter', s.adapter, false));
  if (d.meta !== null) {
    general.push(row('space group (Hall)', d.meta.hall.trim(), false));
    general.push(row('cell (Å, °)', d.meta.cell.map((v) => formatNumber(v)).join(', '), false));
    general.push(row('subvoxels per cell', d.meta.ndiv.join(' × '), false));
    general.push(row('wavelength (Å)', formatNumber(d.meta.wavelength), false));
  }
  general.push(row('CC½ overall, diffuse', fixed(s.cchalf?.diffuse, 4)));
  if (s.cchalf?.bragg !== undefined && s.cchalf.bragg !== null) general.push(row('CC½ overall, Bragg', fixed(s.cchalf.bragg, 4)));
  general.push(row('absolute scale factor K', s.scaleFactor === null || s.scaleFactor === undefined ? '— (absolute scaling not run)' : formatNumber(s.scaleFactor)));
  for (const [k, v] of Object.entries(s.counts ?? {})) general.push(row(k, formatCount(v)));
  for (const [k, v] of Object.entries(s.maskedFractions ?? {})) general.push(row(`masked: ${k}`, formatPercent(v)));
  for (const [k, v] of Object.entries(s.extra ?? {})) general.push(row(k, typeof v === 'number' ? formatNumber(v) : v, typeof v === 'number'));
  parts.push(`<table>${general.join('')}</table>`);
  if (s.stages !== undefined && s.stages.length > 0) {
    const total = s.stages.reduce((t, x) => t + (Number.isFinite(x.seconds) ? x.seconds : 0), 0);
    const rows = s.stages.map((x) => [x.name, fixed(x.seconds, 2), x.status ?? '']);
    rows.push(['total', fixed(total, 2), '']);
    parts.push('<h3>Time per stage</h3>', table(['stage', 'seconds', 'status'], rows));
  }
  return { id: 'summary', title: 'Summary', caption: 'Counts, masked fractions, overall CC½, absolute scale factor, time per stage, backend and adapter of the run.', body: parts.join('') };
}

function sliceFigure(p: ReportSlice, units: string, index: number): string {
  const physW = p.cols;
  const physH = p.rows * p.aspect;
  let aw = 340;
  let ah = (aw * physH) / Math.max(1, physW);
  if (ah > 400) {
    aw = (aw * 400) / ah;
    ah = 400;
  }
  aw = Math.max(60, aw);
  ah = Math.max(60, ah);
  return heatMap({
    id: `slice-${p.axis}-${index}`,
    title: `${p.axis} = ${formatNumber(p.value)}`,
    values: p.data,
    rows: p.rows,
    cols: p.cols,
    xRange: [(p.colOrigin - 0.5) / p.colNdiv, (p.colOrigin + p.cols - 0.5) / p.colNdiv],
    yRange: [(p.rowOrigin - 0.5) / p.rowNdiv, (p.rowOrigin + p.rows - 0.5) / p.rowNdiv],
    xLabel: `${p.colAxis} (r.l.u.)`,
    yLabel: `${p.rowAxis} (r.l.u.)`,
    valueLabel: `intensity (${units})`,
    areaWidth: aw,
    areaHeight: ah,
  });
}

function slicesSection(s: SliceSet | Absent): SectionSpec {
  const body = isAbsent(s)
    ? absentHtml(s)
    : `<div class="figs">${s.planes.map((p, i) => sliceFigure(p, s.units, i)).join('')}</div><p class="note">From ${escapeXml(s.source)}; colours between the 1st and 99th percentiles of each plane, grey = unmeasured; the angle between the axes is not drawn.</p>`;
  return { id: 'slices', title: 'Map slices', caption: 'The merged diffuse map on the central planes h = 0, k = 0 and l = 0 (full sphere, Laue symmetry applied).', body };
}

function radialSection(r: RadialProfile | Absent): SectionSpec {
  let body: string;
  if (isAbsent(r)) body = absentHtml(r);
  else {
    const used = r.rows.reduce((a, b) => a + b, 0);
    body =
      `<div class="figs">${linePlot({ xLabel: '|s| = 1/d (1/Å)', yLabel: `mean intensity (${r.units})`, series: [{ label: 'radial average', x: r.s, y: r.mean, kind: 'line+points' }], width: 560, height: 320 })}</div>` +
      `<p class="note">${formatCount(used)} merged rows of table ${escapeXml(r.table)} in ${r.s.length} bins of equal width up to |s| = ${escapeXml(formatNumber(r.sHigh[r.sHigh.length - 1] ?? NaN))} 1/Å, each row weighted by its multiplicity (the full-sphere points it stands for); from ${escapeXml(r.source)}.</p>`;
  }
  return { id: 'radial', title: 'Radial average', caption: 'Mean intensity of the merged diffuse map against |s|, averaged over spherical shells.', body };
}

function edges(nodes: readonly number[]): [number, number] {
  const n = nodes.length;
  if (n === 0) return [0, 1];
  if (n === 1) return [nodes[0]! - 0.5, nodes[0]! + 0.5];
  const d0 = nodes[1]! - nodes[0]!;
  const d1 = nodes[n - 1]! - nodes[n - 2]!;
  return [nodes[0]! - d0 / 2, nodes[n - 1]! + d1 / 2];
}

const MAX_SWEEP_FIGURES = 8;

function scaleSection(s: ScaleData | Absent, stills = false): SectionSpec {
  const caption = stills
    ? 'The relative scale model of the stills, I ≈ a(x, y, φ)·d·(b(φ)·I + c(|s|, φ)) with φ the shot’s p_order coordinate (its rank in p_order for per-shot b, p_order mapped onto the b nodes for smooth b): b, a on the detector at the middle φ node, c at a few φ nodes, d per panel, and the refinement χ².'
    : 'The relative scale model I ≈ a(x, y, φ)·d·(b(φ)·I + c(|s|, φ)): b per sweep, a on the detector at the middle φ node, c at a few φ nodes, d per panel, and the refinement χ².';
  if (isAbsent(s)) return { id: 'scale', title: 'Scale model', caption, body: absentHtml(s) };
  const parts: string[] = [];
  parts.push('<h3>b(φ): scale vs rotation</h3>');
  parts.push(`<div class="figs">${linePlot({ xLabel: 'φ (°)', yLabel: 'b', series: s.b.map((g, i): LineSeries => ({ label: `b ${g.label}`, x: g.phi, y: g.value, kind: 'line+points', color: color(i) })), width: 560, height: 300 })}</div>`);

  parts.push('<h3>a(x, y): detector scale at the middle φ node</h3>');
  const aFigs = s.a.slice(0, MAX_SWEEP_FIGURES).map((g, i) => {
    const xr = edges(g.x);
    const yr = edges(g.y);
    const spanX = xr[1] - xr[0];
    const spanY = yr[1] - yr[0];
    let aw = 260;
    let ah = spanX > 0 ? (aw * spanY) / spanX : aw;
    if (ah > 300) {
      aw = (aw * 300) / ah;
      ah = 300;
    }
    return heatMap({
      id: `scale-a-${i}`,
      title: `${g.label}, φ = ${formatNumber(g.phi)}°`,
      values: g.values,
      rows: g.y.length,
      cols: g.x.length,
      xRange: xr,
      yRange: yr,
      xLabel: 'x (pixel)',
      yLabel: 'y (pixel)',
      valueLabel: 'a',
      limits: [Math.min(...g.values), Math.max(...g.values)],
      areaWidth: Math.max(60, aw),
      areaHeight: Math.max(60, ah),
    });
  });
  parts.push(`<div class="figs">${aFigs.join('')}</div>`);
  if (s.a.length > MAX_SWEEP_FIGURES) parts.push(`<p class="note">${s.a.length - MAX_SWEEP_FIGURES} more sweeps not drawn.</p>`);

  parts.push('<h3>c(|s|): offset at a few φ nodes</h3>');
  const cFigs = s.c.slice(0, MAX_SWEEP_FIGURES).map((g) =>
    linePlot({
      title: g.label,
      xLabel: '|s| (1/Å)',
      yLabel: 'c',
      series: g.curves.map((c, i): LineSeries => ({ label: `φ = ${formatNumber(c.phi)}°`, x: g.s, y: c.value, kind: 'line+points', color: color(i) })),
      yZero: true,
      width: 440,
      height: 280,
    }),
  );
  parts.push(`<div class="figs">${cFigs.join('')}</div>`);
  if (s.c.length > MAX_SWEEP_FIGURES) parts.push(`<p class="note">${s.c.length - MAX_SWEEP_FIGURES} more sweeps not drawn.</p>`);

  parts.push(`<h3>d: detector panel scale (${s.dMode === 'map' ? 'mean over each panel’s map, bars: min … max' : 'one factor per panel'})</h3>`);
  parts.push(
    `<div class="figs">${barPlot({
      xLabel: 'panel',
      yLabel: 'd',
      categories: s.d.map((p) => String(p.panel)),
      values: s.d.map((p) => p.mean),
      ...(s.dMode === 'map' ? { ranges: s.d.map((p): [number, number] => [p.min, p.max]) } : {}),
      hLine: 1,
      width: Math.min(900, Math.max(320, 120 + 24 * s.d.length)),
      height: 260,
    })}</div>`,
  );
  if (s.d.length <= 16) parts.push(table(['panel', 'd (mean)', 'min', 'max', 'nodes'], s.d.map((p) => [String(p.panel), formatNumber(p.mean), formatNumber(p.min), formatNumber(p.max), String(p.nodes)])));

  if (s.history.length > 0) {
    parts.push('<h3>Refinement</h3>');
    const stages = [...new Set(s.history.map((h) => h.stage))];
    const series = stages.map((st, i): LineSeries => {
      const x: number[] = [];
      const y: number[] = [];
      s.history.forEach((h, k) => {
        if (h.stage === st) {
          x.push(k + 1);
          y.push(h.chi2);
        }
      });
      return { label: `stage ${st}`, x, y, kind: 'points', color: color(i) };
    });
    parts.push(`<div class="figs">${linePlot({ xLabel: 'iteration (all stages)', yLabel: 'reduced χ²', series, width: 560, height: 280 })}</div>`);
  }
  const st = Object.entries(s.stats).map(([k, v]) => `${k} ${formatNumber(v)}`);
  parts.push(`<p class="note">From ${escapeXml(s.source)}${st.length > 0 ? `; ${escapeXml(st.join(', '))}` : ''}.</p>`);
  return { id: 'scale', title: 'Scale model', caption, body: parts.join('') };
}

function filterSection(f: FilterData | Absent): SectionSpec {
  const caption = 'Fraction of the occupied subvoxels excluded by the Poisson filter (outliers) or for overflow, per wedge of each sweep.';
  if (isAbsent(f)) return { id: 'filter', title: 'Bragg filter', caption, body: absentHtml(f) };
  const series = f.sweeps.map((s, i): LineSeries => {
    const last = s.firstFrame.length - 1;
    return { label: s.sweep, x: s.firstFrame, y: s.fraction.map((v) => 100 * v), kind: 'step', stepEnd: last >= 0 ? s.firstFrame[last]! + s.frames[last]! : 0, color: color(i) };
  });
  const parts = [`<div class="figs">${linePlot({ xLabel: 'frame (wedge start … end)', yLabel: 'excluded (% of occupied)', series, yZero: true, width: 620, height: 300 })}</div>`];
  parts.push(table(['sweep', 'wedges', 'occupied', 'outliers', 'overflow', 'excluded'], f.sweeps.map((s) => [s.sweep, String(s.wedge.length), formatCount(s.total.occupied), formatCount(s.outliers.reduce((a, b) => a + b, 0)), formatCount(s.overflow.reduce((a, b) => a + b, 0)), formatPercent(s.total.fraction)])));
  for (const m of f.missing) parts.push(absentHtml({ absent: `${m.sweep}: ${m.reason}` }));
  return { id: 'filter', title: 'Bragg filter', caption, body: parts.join('') };
}

function cchalfSection(c: CchalfData | Absent): SectionSpec {
  const caption = 'CC½ between the two half data sets per resolution shell (equal-volume shells), diffuse and Bragg tables.';
  if (isAbsent(c)) return { id: 'cchalf', title: 'CC½', caption, body: absentHtml(c) };
  const series = c.tables.map((t, i): LineSeries => ({ label: `${t.table} (overall ${fixed(t.overall, 3)})`, x: t.sMin.map((lo, k) => (lo + t.sMax[k]!) / 2), y: t.cchalf, kind: 'line+points', color: color(i) }));
  const parts = [`<div class="figs">${linePlot({ xLabel: '|s| = 1/d, shell middle (1/Å)', yLabel: 'CC½', series, yZero: true, width: 560, height: 300 })}</div>`];
  for (const t of c.tables) {
    parts.push(`<h3>${escapeXml(t.table)}</h3>`);
    parts.push(table(['shell |s| (1/Å)', 'd (Å)', 'n', 'CC½', 'completeness'], t.sMin.map((lo, k) => [`${formatNumber(lo)} – ${formatNumber(t.sMax[k]!)}`, `${formatNumber(1 / t.sMax[k]!)}`, formatCount(t.n[k]!), fixed(t.cchalf[k], 4), formatPercent(t.completeness[k] ?? NaN, 1)])));
  }
  parts.push(`<p class="note">From ${escapeXml(c.source)}.</p>`);
  return { id: 'cchalf', title: 'CC½', caption, body: parts.join('') };
}

function absoluteSection(a: AbsoluteData | Absent): SectionSpec {
  const caption = 'Krogh-Moe sum rule: the cumulative observed integral K·O(|s|) against the theory T(|s|), and their ratio, with the cut-off where K is taken.';
  if (isAbsent(a)) return { id: 'absolute', title: 'Absolute scale', caption, body: absentHtml(a) };
  const K = a.scaleFactor;
  const cut = [{ at: a.cutoff, label: `cut-off ${formatNumber(a.cutoff)} 1/Å` }];
  const cum = linePlot({
    title: 'cumulative integrals',
    xLabel: '|s| (1/Å)',
    yLabel: 'e.u. per cell × Å⁻³',
    series: [
      { label: 'K·O(s), observed', x: a.s, y: a.observed.map((o) => K * o), kind: 'line', color: color(0) },
      { label: 'T(s), theory', x: a.s, y: a.theory, kind: 'line', color: color(1), dashed: true },
    ],
    vLines: cut,
    width: 520,
    height: 320,
  });
  const ratio = linePlot({
    title: 'ratio T/O (K at the cut-off)',
    xLabel: '|s| (1/Å)',
    yLabel: 'T/O',
    series: [{ label: 'T/O', x: a.s, y: a.ratio, kind: 'line+points', color: color(0) }],
    vLines: cut,
    hLines: [{ at: K, label: `K = ${formatNumber(K)}`, color: '#666' }],
    ...(K > 0 && Number.isFinite(K) ? { yRange: [0, 2 * K] as const } : {}),
    width: 520,
    height: 320,
  });
  const facts = `K = ${formatNumber(K)}, cut-off ${formatNumber(a.cutoff)} 1/Å, ${formatNumber(a.electrons)} electrons per cell of ${formatNumber(a.cellVolume)} Å³${a.composition !== '' ? ` (${a.composition})` : ''}`;
  return { id: 'absolute', title: 'Absolute scale', caption, body: `<div class="figs">${cum}${ratio}</div><p class="note">${escapeXml(facts)}; from ${escapeXml(a.source)}.</p>` };
}

/** Bins of the masked-fraction histogram. */
const MASK_BINS = 20;
/** Shots listed one by one in the stills table; beyond it only rejected and skipped ones are. */
const MAX_SHOT_ROWS = 200;

/** Histogram bars: counts per [edges[i], edges[i+1]) bin, labelled by the bin's lower edge in %. */
function histogram(title: string, xLabel: string, edges: readonly number[], counts: readonly number[], width = 440): string {
  return barPlot({ title, xLabel, yLabel: 'shots or rows', categories: counts.map((_c, i) => `${formatNumber(100 * edges[i]!)}`), values: [...counts], width, height: 260 });
}

function stillsSections(st: StillsData): SectionSpec[] {
  const shots = st.shots;
  const used = shots.filter((s) => s.status === 'used');
  const rejected = shots.filter((s) => s.status === 'rejected');
  const skipped = shots.filter((s) => s.status === 'skipped');

  // scale vs p_order
  const series: LineSeries[] = [
    { label: `used (${used.length})`, x: used.map((s) => s.pOrder), y: used.map((s) => s.b), kind: 'points', color: color(0) },
    ...(rejected.length > 0 ? [{ label: `rejected (${rejected.length})`, x: rejected.map((s) => s.pOrder), y: rejected.map((s) => s.b), kind: 'points' as const, color: color(1) }] : []),
  ];
  const scale: SectionSpec = {
    id: 'stills-scale',
    title: 'Scale vs p_order',
    caption: `The scale b of every shot against its ordering parameter p_order (${st.pOrderLabel}); rejected shots in a second colour, skipped shots have none.`,
    body: `<div class="figs">${linePlot({ xLabel: `p_order: ${st.pOrderLabel}`, yLabel: 'b', series, width: 560, height: 300 })}</div>`,
  };

  // masked fraction and partiality histograms
  const fractions = shots.filter((s) => Number.isFinite(s.maskedFraction)).map((s) => s.maskedFraction);
  const top = Math.max(0.01, ...fractions);
  const step = top / MASK_BINS;
  const edges = Array.from({ length: MASK_BINS + 1 }, (_v, i) => i * step);
  const counts = new Array<number>(MASK_BINS).fill(0);
  for (const f of fractions) counts[Math.min(MASK_BINS - 1, Math.floor(f / step))]! += 1;
  const figs = [histogram('2D Bragg mask: masked fraction per shot', 'masked (% of the shot’s pixels), bin start', edges, counts)];
  let note = `${fractions.length} shots; masked ${fractions.length > 0 ? `${formatPercent(Math.min(...fractions))} … ${formatPercent(Math.max(...fractions))}` : '—'}.`;
  if (st.partiality !== null) {
    const p = st.partiality;
    figs.push(histogram('Bragg reference: partiality per row', 'partiality (%), bin start', p.edges, p.counts));
    const total = p.counts.reduce((a, b) => a + b, 0);
    const below = p.counts.reduce((a, c, i) => a + (p.edges[i + 1]! <= p.threshold ? c : 0), 0);
    note += ` Partialities of ${formatCount(total)} Bragg rows; rows below ${formatNumber(p.threshold)} (${formatCount(below)} in the bins under it) are left out of the reference.`;
  } else note += ' No Bragg reference (the input has no reflections).';
  const hist: SectionSpec = { id: 'stills-histograms', title: 'Masks and partialities', caption: 'How much of each shot the 2D Bragg mask removes, and the partialities of the imported Bragg rows.', body: `<div class="figs">${figs.join('')}</div><p class="note">${escapeXml(note)}</p>` };

  // shots used / rejected / skipped
  const listed = shots.length <= MAX_SHOT_ROWS ? shots : [...rejected, ...skipped];
  const rows = listed.map((s) => [String(s.shot), s.identifier, s.status, fixed(s.pOrder, 4), fixed(s.b, 4), formatPercent(s.maskedFraction), formatCount(s.rows), s.reason]);
  const counts3 = table(['shots', 'used', 'rejected', 'skipped'], [[formatCount(shots.length), formatCount(used.length), formatCount(rejected.length), formatCount(skipped.length)]], 0);
  const more = shots.length > MAX_SHOT_ROWS ? `<p class="note">${shots.length} shots: only the rejected and skipped ones are listed.</p>` : '';
  const shotsSection: SectionSpec = {
    id: 'stills-shots',
    title: 'Shots',
    caption: 'Every shot: used in the merge, rejected by the scaling (with the reason), or skipped because it could not be processed (on_bad_shot: skip).',
    body: counts3 + more + table(['shot', 'identifier', 'status', 'p_order', 'b', 'masked', 'rows', 'reason'], rows, 3),
  };
  return [scale, hist, shotsSection];
}

function filesSection(d: ReportData): SectionSpec {
  const body = d.files.length > 0 ? table(['stage', 'file'], d.files.map((f) => [f.label, f.path]), 2) : '<p class="note">none</p>';
  return { id: 'files', title: 'Input files', caption: 'The stage files this report was made from.', body };
}

/** The report page (pure: the same data gives the same string). */
export function renderReport(data: ReportData): string {
  const stills = data.stills;
  const sections = [
    summarySection(data),
    slicesSection(data.slices),
    radialSection(data.radial),
    ...(stills !== undefined ? stillsSections(stills) : []),
    scaleSection(data.scale, stills !== undefined),
    ...(stills !== undefined ? [] : [filterSection(data.filter)]),
    cchalfSection(data.cchalf),
    absoluteSection(data.absolute),
    filesSection(data),
  ];
  const nav = sections.map((s) => `<a href="#${s.id}">${escapeXml(s.title)}</a>`).join('');
  const sub = data.summary.subtitle !== undefined ? `<p class="sub">${escapeXml(data.summary.subtitle)}</p>` : '';
  return (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>${escapeXml(data.title)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n` +
    `<h1>${escapeXml(data.title)}</h1>\n${sub}<nav>${nav}</nav>\n` +
    sections.map(sectionHtml).join('') +
    '</body>\n</html>\n'
  );
}

/** Renders and writes the report atomically. */
export async function writeReport(path: string, data: ReportData): Promise<void> {
  await writeFileAtomic(path, renderReport(data));
}
