/**
 * Turns match and spread results into named tables, figure specs and a JSON
 * summary (pure: nothing is written here; the CLI writes the files).
 */
import { INTENSITY_COLUMNS, type SpotDataset } from './types.ts';
import { properRotationsOnHkl, type LaueGroup } from './laue.ts';
import type { MatchResult } from './match.ts';
import { misorientationDeg } from './orientation.ts';
import type { PlotSpec } from './plot.ts';
import type { SpreadResult } from './spread.ts';
import type { Table } from './table.ts';

export interface Figure {
  /** file stem */
  name: string;
  spec: PlotSpec;
}

export interface Report {
  tables: Table[];
  figures: Figure[];
  summary: Record<string, unknown>;
}

function imageLabel(datasets: readonly SpotDataset[], dataset: number, frame: number): { dataset: string; image: number } {
  const ds = datasets[dataset]!;
  return { dataset: ds.name, image: frame + ds.firstImage };
}

/** Misorientation of two global images (degrees): with and without the Laue group's rotations. */
export function pairAngles(datasets: readonly SpotDataset[], match: MatchResult, a: number, b: number, fold: LaueGroup | null): { angle: number; raw: number } {
  const im = match.index.images;
  const mA = datasets[im.imageDataset[a]!]!.settingAtFrame;
  const mB = datasets[im.imageDataset[b]!]!.settingAtFrame;
  if (mA === undefined || mB === undefined) return { angle: Number.NaN, raw: Number.NaN };
  const fa = im.imageFrame[a]!;
  const fb = im.imageFrame[b]!;
  const A = mA.subarray(9 * fa, 9 * fa + 9);
  const B = mB.subarray(9 * fb, 9 * fb + 9);
  const raw = misorientationDeg(A, B);
  return { angle: fold !== null ? misorientationDeg(A, B, properRotationsOnHkl(fold)) : raw, raw };
}

export interface MatchReportOptions {
  fold: LaueGroup | null;
  /** also list every image with its best partner (default true) */
  imageTable?: boolean;
}

export function matchReport(datasets: readonly SpotDataset[], match: MatchResult, options: MatchReportOptions): Report {
  const im = match.index.images;
  const pairs: Table = {
    name: 'pairs',
    description: 'image pairs ranked by shared Miller indices (folded when a Laue group is named); angle between the crystal settings at the images\u2019 mid angles',
    columns: ['rank', 'dataset_a', 'image_a', 'dataset_b', 'image_b', 'shared', 'keys_a', 'keys_b', 'jaccard', 'angle_deg', 'angle_raw_deg'],
    rows: match.pairs.map((p, i) => {
      const A = imageLabel(datasets, im.imageDataset[p.a]!, im.imageFrame[p.a]!);
      const B = imageLabel(datasets, im.imageDataset[p.b]!, im.imageFrame[p.b]!);
      const ang = pairAngles(datasets, match, p.a, p.b, options.fold);
      return [i + 1, A.dataset, A.image, B.dataset, B.image, p.shared, p.nA, p.nB, p.jaccard, ang.angle, ang.raw];
    }),
  };
  const hist: Table = {
    name: 'pair-histogram',
    description: 'number of image pairs by the number of Miller indices they share',
    columns: ['shared', 'pairs'],
    rows: [],
  };
  for (let c = 1; c < match.histogram.length; c++) if (match.histogram[c]! > 0) hist.rows.push([c, match.histogram[c]!]);
  const tables = [pairs, hist];
  if (options.imageTable ?? true) {
    const images: Table = {
      name: 'images',
      description: `every image with its distinct Miller indices and its best partner among pairs sharing at least ${match.minShared}`,
      columns: ['dataset', 'image', 'keys', 'best_dataset', 'best_image', 'best_shared'],
      rows: [],
    };
    for (let g = 0; g < im.nImages; g++) {
      const A = imageLabel(datasets, im.imageDataset[g]!, im.imageFrame[g]!);
      const bp = match.bestPartner[g]!;
      const B = bp >= 0 ? imageLabel(datasets, im.imageDataset[bp]!, im.imageFrame[bp]!) : null;
      images.rows.push([A.dataset, A.image, match.index.imgStart[g + 1]! - match.index.imgStart[g]!, B?.dataset ?? null, B?.image ?? null, bp >= 0 ? match.bestShared[g]! : null]);
    }
    tables.push(images);
  }
  const hx: number[] = [];
  const hy: number[] = [];
  for (let c = 1; c < match.histogram.length; c++) {
    if (match.histogram[c]! > 0) {
      hx.push(c);
      hy.push(match.histogram[c]!);
    }
  }
  const figures: Figure[] = [
    {
      name: 'pair-similarity',
      spec: {
        title: 'Image pairs by shared Miller indices',
        note: `${datasets.length} datasets, ${im.nImages} images, ${match.pairsWithShared} pairs share at least one index${options.fold ? ` (folded by ${options.fold.name})` : ''}`,
        xLabel: 'shared Miller indices',
        yLabel: 'image pairs',
        yLog: true,
        series: [{ kind: 'bars', x: hx, y: hy, color: '#3366aa' }],
      },
    },
  ];
  const best = match.pairs[0];
  const summary: Record<string, unknown> = {
    datasets: datasets.map((d) => ({ name: d.name, identifier: d.identifier, source: d.source, images: d.nFrames, observations: d.n })),
    fold: options.fold ? { hall: options.fold.hall, laue: options.fold.name } : null,
    images: im.nImages,
    keys: match.index.nKeys,
    indicesBeyondRange: match.index.outOfRange,
    pairsWithShared: match.pairsWithShared,
    pairsAboveThreshold: match.pairsAboveThreshold,
    minShared: match.minShared,
    postingPairs: match.postingPairs,
    threads: match.threads,
    bestPair: best ? pairs.rows[0] : null,
    imageFrom: 'floor of xyzobs.px.value z (xyzcal.px z for rows without an observed centroid), relative to the scan start',
  };
  return { tables, figures, summary };
}

export function spreadReport(datasets: readonly SpotDataset[], spread: SpreadResult, fold: LaueGroup | null): Report {
  const src = spread.summary.intensitySource;
  const cols = INTENSITY_COLUMNS[src];
  const k = spread.summary.k;
  const binTable = (name: string, what: string, key: string, rows: SpreadResult['byIntensity']): Table => ({
    name,
    description: `dispersion √mean(z²) of the observations binned by ${what} (equal-count bins)`,
    columns: ['intensity', `${key}_lo`, `${key}_hi`, 'observations', 'dispersion', `fraction_beyond_${k}sigma`, 'mean_intensity', 'mean_sigma'],
    rows: rows.map((r) => [src, r.lo, r.hi, r.observations, r.dispersion, r.fractionBeyondK, r.meanIntensity, r.meanSigma]),
  });
  const R = spread.reflections;
  const reflections: Table = {
    name: 'reflections',
    description: 'per unique reflection: weighted mean, its σ, reduced χ² of the observations about it and √ of it (normalized dispersion), share beyond kσ',
    columns: ['intensity', 'h', 'k', 'l', 'd', 'n', 'mean', 'sigma_mean', 'chi2_red', 'dispersion', `fraction_beyond_${k}sigma`],
    rows: [],
  };
  for (let r = 0; r < R.count; r++) {
    reflections.rows.push([src, R.h[r]!, R.k[r]!, R.l[r]!, R.d[r]!, R.n[r]!, R.mean[r]!, R.sigmaMean[r]!, R.chi2red[r]!, Math.sqrt(R.chi2red[r]!), R.fracBeyond[r]!]);
  }
  const trimmed: Table = {
    name: 'trimmed',
    description: 'dispersion after removing the noisiest x%: of the observations (by |z|) and of the reflections (by reduced χ²), and the share of the spread they carried',
    columns: ['intensity', 'percent', 'removed_observations', 'dispersion_after', 'share_of_sum_z2', 'removed_reflections', 'pooled_dispersion_after', 'share_of_chi2'],
    rows: spread.trimmed.map((t) => [src, t.percent, t.removedObservations, t.dispersionAfter, t.shareOfSpread, t.removedReflections, t.pooledDispersionAfter, t.shareOfChi2]),
  };
  const byDataset: Table = {
    name: 'by-dataset',
    description: 'dispersion √mean(z²) of each dataset\u2019s observations',
    columns: ['intensity', 'dataset', 'observations', 'dispersion', `fraction_beyond_${k}sigma`],
    rows: spread.byDataset.map((d) => [src, d.dataset, d.observations, d.dispersion, d.fractionBeyondK]),
  };
  const z = spread.zoneAxes;
  const zone: Table = {
    name: 'zone-axes',
    description: `angle between the beam and the nearest zone axis [uvw] (|u|,|v|,|w| ≤ ${z.maxIndex}) at each observation\u2019s image: share of all observations and of those beyond ${k}σ per bin`,
    columns: ['intensity', 'angle_lo_deg', 'angle_hi_deg', 'fraction_all', 'fraction_extreme', 'enrichment'],
    rows: z.bins.map((b) => [src, b.lo, b.hi, b.fractionAll, b.fractionExtreme, b.enrichment]),
  };
  const pairStats: Table = {
    name: 'pair-stats',
    description: 'matched image pairs: correlation of the intensities of their shared reflections, one-sided permutation p-value (chance of a correlation this strong from unrelated intensities), normalized rms difference',
    columns: ['intensity', 'rank', 'dataset_a', 'image_a', 'dataset_b', 'image_b', 'shared', 'n', 'pearson', 'spearman', 'p_value', 'norm_rms_difference', 'angle_deg', 'angle_raw_deg'],
    rows: spread.pairs.map((p) => [src, p.rank, p.datasetA, p.imageA, p.datasetB, p.imageB, p.shared, p.n, p.pearson, p.spearman, p.pValue, p.normRmsDifference, p.angleDeg, p.angleRawDeg]),
  };
  const pairPoints: Table = {
    name: 'pair-points',
    description: 'the shared reflections of each analysed pair, with their intensities on both images',
    columns: ['intensity', 'rank', 'h', 'k', 'l', 'i_a', 'sigma_a', 'i_b', 'sigma_b'],
    rows: spread.pairPoints.map((q) => [src, q.rank, q.h, q.k, q.l, q.ia, q.sa, q.ib, q.sb]),
  };
  const tables: Table[] = [
    reflections,
    binTable('by-intensity', 'the mean intensity of their reflection', 'mean_intensity', spread.byIntensity),
    ...(spread.byResolution.length > 0 ? [binTable('by-resolution', 'the d-spacing of their reflection (Å; equal counts in 1/d²)', 'd', spread.byResolution)] : []),
    binTable('by-image-total', 'the total intensity of their image (a proxy for the beam intensity)', 'image_total', spread.byImageTotal),
    byDataset,
    trimmed,
    zone,
    pairStats,
    pairPoints,
  ];

  const figures: Figure[] = [];
  // dispersion vs intensity: every reflection seen twice or more, and the binned curve
  const rx: number[] = [];
  const ry: number[] = [];
  let nonPositive = 0;
  for (let r = 0; r < R.count; r++) {
    if (!(R.n[r]! >= 2)) continue;
    if (!(R.mean[r]! > 0)) {
      nonPositive++;
      continue;
    }
    rx.push(R.mean[r]!);
    ry.push(Math.sqrt(R.chi2red[r]!));
  }
  figures.push({
    name: 'dispersion-vs-intensity',
    spec: {
      title: `Normalized dispersion vs intensity (${cols.value})`,
      note: `pooled dispersion ${fmt(spread.summary.pooledDispersion)}; grey: reflections (${rx.length}; ${nonPositive} with mean ≤ 0 not drawn), red: equal-count bins; dashed: 1 = as the σ's predict`,
      xLabel: 'mean intensity',
      yLabel: '√(reduced χ²)',
      xLog: true,
      yLog: true,
      hline: 1,
      series: [
        { kind: 'points', x: rx, y: ry, color: '#999999', opacity: 0.5, radius: 2, label: 'reflections' },
        { kind: 'line', x: spread.byIntensity.map((b) => b.meanIntensity), y: spread.byIntensity.map((b) => b.dispersion), color: '#cc2222', label: 'binned' },
      ],
    },
  });
  if (spread.pairs.length > 0) {
    const best = spread.pairs[0]!;
    const pts = spread.pairPoints.filter((q) => q.rank === 1);
    const all = [...pts.map((q) => q.ia), ...pts.map((q) => q.ib)];
    const positive = all.filter((v) => v > 0).length;
    const useLog = all.length > 0 && positive >= 0.9 * all.length;
    figures.push({
      name: 'pair-scatter',
      spec: {
        title: `${best.datasetA} image ${best.imageA} vs ${best.datasetB} image ${best.imageB} (${cols.value})`,
        note: `${best.n} shared reflections, Pearson ${fmt(best.pearson)}, Spearman ${fmt(best.spearman)}, p ${fmt(best.pValue)}; grey: the same reflections in other images${useLog && positive < all.length ? `; ${all.length - positive} values ≤ 0 not drawn` : ''}`,
        xLabel: `intensity on ${best.datasetA} image ${best.imageA}`,
        yLabel: 'intensity on the other image',
        xLog: useLog,
        yLog: useLog,
        diagonal: true,
        series: [
          { kind: 'points', x: spread.background.x, y: spread.background.y, color: '#aaaaaa', opacity: 0.4, radius: 2, label: 'other observations' },
          { kind: 'points', x: pts.map((q) => q.ia), y: pts.map((q) => q.ib), color: '#2255bb', radius: 3, label: 'matched pair' },
        ],
      },
    });
  }

  const summary: Record<string, unknown> = {
    intensity: src,
    intensityColumns: cols,
    fold: fold ? { hall: fold.hall, laue: fold.name } : null,
    ...spread.summary,
    definitions: {
      mean: 'inverse-variance weighted mean μ = Σ wI / Σ w, w = 1/σ²',
      chi2_red: 'Σ w (I − μ)² / (n − 1), for reflections observed n ≥ 2 times',
      dispersion: '√chi2_red (1 when the scatter matches the σ\u2019s); pooled: √(Σ χ² / Σ (n − 1))',
      z: '(I − μ) / (σ √(1 − w/Σw)), the standardized residual; bins report √mean(z²)',
      beyond_k_sigma: `|z| > ${k}`,
    },
    zoneAxes: { ...z, bins: undefined },
    bestPair: spread.pairs[0] ?? null,
  };
  return { tables, figures, summary };
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2);
}
