/** A summary of an imported stills dataset: shots, images, crystals, cells and reflection counts. */
import type { StillsDataset } from './model.ts';

export interface StillsShotSummary {
  identifier: string;
  image: string;
  /** a, b, c (Å), alpha, beta, gamma (degrees) */
  cell: [number, number, number, number, number, number];
  reflections: number;
  spotModel: string;
}

export interface StillsSummary {
  source: string;
  format: 'dials' | 'crystfel';
  shots: number;
  /** distinct images (file + index) */
  images: number;
  /** most lattices found on one image */
  maxCrystalsPerImage: number;
  reflections: number;
  /** whether the source gives partialities */
  partiality: boolean;
  /** per cell parameter: mean, min, max over the shots */
  cellRange: { mean: number[]; min: number[]; max: number[] };
  perShot: StillsShotSummary[];
}

export function summarizeStills(d: StillsDataset): StillsSummary {
  const counts = new Array<number>(d.shots.length).fill(0);
  for (const s of d.reflections.shot) counts[s] = (counts[s] ?? 0) + 1;
  const perImage = new Map<string, number>();
  const perShot = d.shots.map((s, i): StillsShotSummary => {
    const image = s.image === undefined ? '' : `${s.image.path}${s.image.event !== '' ? ` ${s.image.event}` : s.image.index > 0 ? ` #${s.image.index}` : ''}`;
    const key = image === '' ? `shot ${i}` : `${s.image?.path}\u0000${s.image?.index}`;
    perImage.set(key, (perImage.get(key) ?? 0) + 1);
    const c = s.experiment.crystal?.unitCell;
    const sm = s.spotModel;
    return {
      identifier: s.identifier,
      image,
      cell: c === undefined ? [Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN] : [c.a, c.b, c.c, c.alpha, c.beta, c.gamma],
      reflections: counts[i] ?? 0,
      spotModel: sm.kind === 'radius' ? `radius ${sm.radius.toExponential(3)} Å⁻¹` : sm.kind === 'sauter' ? `domain ${sm.domainSizeA.toFixed(0)} Å, half mosaicity ${sm.halfMosaicityDeg.toFixed(4)}°` : 'none',
    };
  });
  const mean = [0, 0, 0, 0, 0, 0];
  const min = new Array<number>(6).fill(Number.POSITIVE_INFINITY);
  const max = new Array<number>(6).fill(Number.NEGATIVE_INFINITY);
  for (const s of perShot) {
    s.cell.forEach((v, j) => {
      mean[j] = (mean[j] as number) + v / perShot.length;
      min[j] = Math.min(min[j] as number, v);
      max[j] = Math.max(max[j] as number, v);
    });
  }
  return {
    source: d.source,
    format: d.format,
    shots: d.shots.length,
    images: perImage.size,
    maxCrystalsPerImage: Math.max(0, ...perImage.values()),
    reflections: d.reflections.n,
    partiality: d.reflections.hasPartiality,
    cellRange: { mean, min, max },
    perShot,
  };
}

/** The summary as text: totals, the cell range, then one line per shot (the first `maxShots`). */
export function formatStillsSummary(s: StillsSummary, maxShots = 20): string {
  const f = (v: number, d: number): string => (Number.isFinite(v) ? v.toFixed(d) : '-');
  const cell = (c: readonly number[]): string => `${f(c[0] as number, 2)} ${f(c[1] as number, 2)} ${f(c[2] as number, 2)} Å, ${f(c[3] as number, 2)} ${f(c[4] as number, 2)} ${f(c[5] as number, 2)}°`;
  const lines = [
    `${s.source} (${s.format === 'dials' ? 'DIALS stills' : 'CrystFEL stream'})`,
    `shots (crystals): ${s.shots} on ${s.images} image${s.images === 1 ? '' : 's'}, at most ${s.maxCrystalsPerImage} per image`,
    `reflections: ${s.reflections}${s.partiality ? ', with partialities' : ', no partialities (computed from the spot model)'}`,
  ];
  if (s.shots > 0) {
    lines.push(`cell mean: ${cell(s.cellRange.mean)}`);
    lines.push(`cell min:  ${cell(s.cellRange.min)}`);
    lines.push(`cell max:  ${cell(s.cellRange.max)}`);
    lines.push('shot  reflections  cell                                         spot model  image');
    s.perShot.slice(0, maxShots).forEach((p, i) => {
      lines.push(`${String(i).padStart(4)}  ${String(p.reflections).padStart(11)}  ${cell(p.cell).padEnd(43)}  ${p.spotModel}  ${p.image}`);
    });
    if (s.perShot.length > maxShots) lines.push(`… ${s.perShot.length - maxShots} more shots (--json lists all)`);
  }
  return lines.join('\n');
}
