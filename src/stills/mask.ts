/**
 * 2D Bragg masks of still shots: the pixels a diffuse map must leave out.
 *
 * Three parts, each a bit of the mask (`MASK_PREDICTED`, `MASK_BBOX`,
 * `MASK_OUTLIER`):
 *
 * 1. **Predicted spots.** A pixel is masked when its scattering vector
 *    q = s1 − s0 lies within R_eff of a reciprocal-lattice point r = A·h — the
 *    pixels where the lattice point's sphere cuts the Ewald sphere, i.e. the
 *    predicted spot of every lattice point that intersects the sphere
 *    (|ε| < R_eff). The extent is
 *
 *        R_eff(|q|) = scale·R(|q|) + δ/λ + |q|·Δλ/(2λ) + margin + p
 *
 *    with R the shot's spot model (CrystFEL `profile_radius`; DIALS
 *    R = 1/D + |q|·η from `ML_domain_size_ang` / `ML_half_mosaicity_deg`, and
 *    at least `ellipsoidSigmas`·σ_max for a shot with an ellipsoid profile, σ_max²
 *    the largest eigenvalue of its Σ; `fallbackRadius` when the source gives
 *    none), p the pixel's footprint (half its diagonal in q, so that a spot
 *    smaller than a pixel still masks the pixel it falls on), δ the beam divergence (full
 *    angle; tilting s0 by δ moves q by δ/λ), Δλ/λ the bandwidth (q scales with
 *    1/λ) and `margin` (Å⁻¹) the user's enlargement; `marginPx` then dilates
 *    the predicted mask by that many pixels. The nearest lattice point is
 *    searched among the 8 corners of the hkl cell holding the pixel.
 * 2. **Observed spots**: every `bbox` of the shot's rows in the `.refl`.
 * 3. **Bright outliers** no lattice explains (second lattices, ice, zingers):
 *    a one-sided Gaussian tail test against the local background. Each panel is
 *    cut into `block`² pixel blocks; a block's background b is the median of its
 *    valid pixels not masked by 1–2, its scatter σ = max(1.4826·MAD,
 *    √(gain·b + readNoise²)) (the MAD, or the Poisson floor of an integrating
 *    detector of `gain` ADU per photon). b and σ are interpolated bilinearly
 *    between block centres; a pixel with (v − b)/σ > `z` is an outlier, and
 *    outliers are dilated by `outlierDilatePx`. With z = 4 a Gaussian
 *    background gives 3·10⁻⁵ false positives per pixel (about 30 of 10⁶).
 *
 * The mask is CPU-only and deterministic: its hkl come from the hkl-map
 * kernel's CPU twin (the f32 arithmetic the GPU reproduces), so the mask does
 * not depend on the backend. Pixels are indexed as the pixel vectors are
 * (panel 0 row-major, then panel 1, …).
 */
import { InvalidValueError, invariant } from '../errors.ts';
import { det } from '../geometry/linalg.ts';
import type { Mat3, Panel } from '../geometry/model.ts';
import type { DetectorImage } from '../io/image.ts';
import { hklMapCpu } from '../kernels/hkl-map.ts';
import { ShotVectorCache, shotHklParams } from './geometry.ts';
import type { StillReflections, StillShot } from './model.ts';
import { spotRadius } from './partiality.ts';

export const MASK_PREDICTED = 1;
export const MASK_BBOX = 2;
export const MASK_OUTLIER = 4;

export interface StillsMaskSettings {
  /** lattice-point radius R (Å⁻¹) for shots whose source gives no spot model */
  fallbackRadius: number;
  /** multiplies the spot model's R */
  radiusScale: number;
  /** shots with an ellipsoid profile (dials.ssx_integrate): R is at least this many σ of its widest axis */
  ellipsoidSigmas: number;
  /** added to R_eff, Å⁻¹ */
  margin: number;
  /** dilation of the predicted mask, pixels (0: none) */
  marginPx: number;
  /** beam divergence, full angle (rad), for shots whose source gives none (CrystFEL chunks give theirs) */
  divergence: number;
  /** bandwidth Δλ/λ (full width), for shots whose source gives none */
  bandwidth: number;
  /** mask the observed spots' bboxes from the reflection table */
  bbox: boolean;
  /** the bright-outlier test */
  outliers: boolean;
  /** outlier test: block size, pixels */
  block: number;
  /** outlier test: threshold on (v − b)/σ */
  z: number;
  /** integrating detectors: ADU per photon (1 for photon counting) */
  gain: number;
  /** read noise, ADU rms */
  readNoise: number;
  /** outlier dilation, pixels (square) */
  outlierDilatePx: number;
}

export const STILLS_MASK_DEFAULTS: Readonly<StillsMaskSettings> = Object.freeze({
  fallbackRadius: 0.002,
  radiusScale: 1,
  ellipsoidSigmas: 3,
  margin: 0,
  marginPx: 0,
  divergence: 0,
  bandwidth: 0,
  bbox: true,
  outliers: true,
  block: 16,
  z: 4,
  gain: 1,
  readNoise: 0,
  outlierDilatePx: 1,
});

/** Settings errors name the key. */
export function validateStillsMaskSettings(s: StillsMaskSettings): void {
  const nonNegative: (keyof StillsMaskSettings)[] = ['fallbackRadius', 'margin', 'divergence', 'bandwidth', 'readNoise'];
  for (const k of nonNegative) {
    const v = s[k] as number;
    if (!(Number.isFinite(v) && v >= 0)) throw new InvalidValueError(`must be a number ≥ 0, got ${v}`, { field: `mask.${k}` });
  }
  for (const k of ['radiusScale', 'ellipsoidSigmas', 'gain', 'z'] as const) {
    if (!(Number.isFinite(s[k]) && s[k] > 0)) throw new InvalidValueError(`must be a number > 0, got ${s[k]}`, { field: `mask.${k}` });
  }
  for (const k of ['marginPx', 'outlierDilatePx'] as const) {
    if (!(Number.isInteger(s[k]) && s[k] >= 0 && s[k] <= 64)) throw new InvalidValueError(`must be an integer in 0…64, got ${s[k]}`, { field: `mask.${k}` });
  }
  if (!(Number.isInteger(s.block) && s.block >= 4 && s.block <= 1024)) throw new InvalidValueError(`must be an integer in 4…1024, got ${s.block}`, { field: 'mask.block' });
}

export interface ShotMask {
  /** per pixel, OR of MASK_* bits (0: kept) */
  mask: Uint8Array;
  /** pixels per part (a pixel may be in several) and in all */
  predicted: number;
  bbox: number;
  outlier: number;
  masked: number;
  /** masked / all pixels */
  fraction: number;
  /** lattice radius used at |q| = 0 (Å⁻¹), for reports */
  radius0: number;
}

function dilate(src: Uint8Array, bit: number, panelOffsets: readonly number[], panels: readonly Panel[], r: number, disk: boolean): Uint8Array {
  const out = src.slice();
  if (r <= 0) return out;
  const offs: [number, number][] = [];
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) if (!disk || dx * dx + dy * dy <= r * r) offs.push([dx, dy]);
  panels.forEach((panel, p) => {
    const [w, h] = panel.imageSize;
    const base = panelOffsets[p] as number;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (((src[base + y * w + x] as number) & bit) === 0) continue;
        for (const [dx, dy] of offs) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < w && yy < h) out[base + yy * w + xx] = (out[base + yy * w + xx] as number) | bit;
        }
      }
    }
  });
  return out;
}

/** Median of the first n entries (sorted in place). */
function medianOf(a: Float64Array, n: number): number {
  const s = a.subarray(0, n).sort();
  return n % 2 === 1 ? (s[(n - 1) / 2] as number) : 0.5 * ((s[n / 2 - 1] as number) + (s[n / 2] as number));
}

function isValid(v: number, panel: Panel): boolean {
  const [lo, hi] = panel.trustedRange;
  if (v < 0) return false;
  return hi > lo ? v >= lo && v < hi : true;
}

/** Marks in `out` the outliers of one panel; pixels set in `mask` are left out of the background (see the module comment). */
function markOutliers(mask: Uint8Array, out: Uint8Array, pixels: Int32Array, base: number, panel: Panel, s: StillsMaskSettings): void {
  const [w, h] = panel.imageSize;
  const B = s.block;
  const nbx = Math.ceil(w / B);
  const nby = Math.ceil(h / B);
  const bg = new Float64Array(nbx * nby).fill(Number.NaN);
  const sd = new Float64Array(nbx * nby).fill(Number.NaN);
  const vals = new Float64Array(B * B);
  const dev = new Float64Array(B * B);
  for (let by = 0; by < nby; by++) {
    for (let bx = 0; bx < nbx; bx++) {
      let n = 0;
      for (let y = by * B; y < Math.min(h, (by + 1) * B); y++) {
        for (let x = bx * B; x < Math.min(w, (bx + 1) * B); x++) {
          const i = base + y * w + x;
          const v = pixels[i] as number;
          if ((mask[i] as number) === 0 && isValid(v, panel)) vals[n++] = v;
        }
      }
      if (n < 8) continue;
      const med = medianOf(vals, n);
      for (let j = 0; j < n; j++) dev[j] = Math.abs((vals[j] as number) - med);
      const mad = medianOf(dev, n);
      bg[by * nbx + bx] = med;
      sd[by * nbx + bx] = Math.max(1.4826 * mad, Math.sqrt(s.gain * Math.max(med, 0) + s.readNoise * s.readNoise));
    }
  }
  // blocks without enough pixels take the mean of their neighbours (repeated until none is left, or none can be filled)
  fillGaps(bg, nbx, nby);
  fillGaps(sd, nbx, nby);
  const at = (a: Float64Array, fx: number, fy: number): number => {
    const x0 = Math.min(nbx - 1, Math.max(0, Math.floor(fx)));
    const y0 = Math.min(nby - 1, Math.max(0, Math.floor(fy)));
    const x1 = Math.min(nbx - 1, x0 + 1);
    const y1 = Math.min(nby - 1, y0 + 1);
    const tx = Math.min(1, Math.max(0, fx - x0));
    const ty = Math.min(1, Math.max(0, fy - y0));
    const v00 = a[y0 * nbx + x0] as number;
    const v10 = a[y0 * nbx + x1] as number;
    const v01 = a[y1 * nbx + x0] as number;
    const v11 = a[y1 * nbx + x1] as number;
    return (1 - ty) * ((1 - tx) * v00 + tx * v10) + ty * ((1 - tx) * v01 + tx * v11);
  };
  for (let y = 0; y < h; y++) {
    const fy = (y + 0.5) / B - 0.5;
    for (let x = 0; x < w; x++) {
      const i = base + y * w + x;
      const v = pixels[i] as number;
      if (!isValid(v, panel)) continue;
      const fx = (x + 0.5) / B - 0.5;
      const b = at(bg, fx, fy);
      const sigma = at(sd, fx, fy);
      if (Number.isFinite(b) && sigma > 0 && (v - b) / sigma > s.z) out[i] = MASK_OUTLIER;
    }
  }
}

function fillGaps(a: Float64Array, nx: number, ny: number): void {
  for (let pass = 0; pass < nx + ny; pass++) {
    let missing = 0;
    const next = a.slice();
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        if (Number.isFinite(a[y * nx + x] as number)) continue;
        let sum = 0;
        let n = 0;
        for (const [dx, dy] of [[-1, 0], [1, 0], [0, -1], [0, 1]] as const) {
          const xx = x + dx;
          const yy = y + dy;
          const v = xx >= 0 && yy >= 0 && xx < nx && yy < ny ? (a[yy * nx + xx] as number) : Number.NaN;
          if (Number.isFinite(v)) {
            sum += v;
            n++;
          }
        }
        if (n > 0) next[y * nx + x] = sum / n;
        else missing++;
      }
    }
    a.set(next);
    if (missing === 0) return;
  }
}

/** Largest eigenvalue of a symmetric 3×3 matrix (trigonometric closed form). */
function largestEigenvalue(m: Mat3): number {
  const [a, b, c, , d, e, , , f] = m;
  const p1 = b * b + c * c + e * e;
  const q = (a + d + f) / 3;
  if (p1 === 0) return Math.max(a, d, f);
  const p2 = (a - q) ** 2 + (d - q) ** 2 + (f - q) ** 2 + 2 * p1;
  const p = Math.sqrt(p2 / 6);
  const B: Mat3 = [(a - q) / p, b / p, c / p, b / p, (d - q) / p, e / p, c / p, e / p, (f - q) / p];
  const r = Math.min(1, Math.max(-1, det(B) / 2));
  return q + 2 * p * Math.cos(Math.acos(r) / 3);
}

/** Half the diagonal of pixel i in q (Å⁻¹), from the vectors of its neighbours on the panel. */
function footprint(v: Float32Array, i: number, x: number, y: number, w: number, h: number): number {
  const ix = x + 1 < w ? i + 1 : i - 1;
  const iy = y + 1 < h ? i + w : i - w;
  const dx = Math.hypot((v[3 * ix] as number) - (v[3 * i] as number), (v[3 * ix + 1] as number) - (v[3 * i + 1] as number), (v[3 * ix + 2] as number) - (v[3 * i + 2] as number));
  const dy = Math.hypot((v[3 * iy] as number) - (v[3 * i] as number), (v[3 * iy + 1] as number) - (v[3 * i + 1] as number), (v[3 * iy + 2] as number) - (v[3 * i + 2] as number));
  return 0.5 * Math.hypot(dx, dy);
}

/** |q| and the footprint of every pixel: they depend on the detector and beam only, so shots sharing the vectors share them. */
const pixelQ = new WeakMap<Float32Array, { q: Float64Array; foot: Float64Array }>();

function pixelQOf(v: Float32Array, panels: readonly Panel[], panelOffsets: readonly number[]): { q: Float64Array; foot: Float64Array } {
  let e = pixelQ.get(v);
  if (e !== undefined) return e;
  const n = v.length / 3;
  e = { q: new Float64Array(n), foot: new Float64Array(n) };
  const { q, foot } = e;
  panels.forEach((panel, p) => {
    const [w, h] = panel.imageSize;
    const base = panelOffsets[p] as number;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = base + y * w + x;
        const qx = v[3 * i] as number;
        const qy = v[3 * i + 1] as number;
        const qz = v[3 * i + 2] as number;
        q[i] = Math.sqrt(qx * qx + qy * qy + qz * qz);
        foot[i] = footprint(v, i, x, y, w, h);
      }
    }
  });
  pixelQ.set(v, e);
  return e;
}

export interface StillMaskInputs {
  shot: StillShot;
  /** the shot's image (needed by the outlier test only) */
  image?: DetectorImage;
  /** the dataset's reflections (their rows of this shot give the bboxes) */
  reflections?: StillReflections;
  /** pixel vectors shared between shots */
  vectors?: ShotVectorCache;
}

/** The Bragg mask of one shot (see the module comment). */
export function stillBraggMask(inputs: StillMaskInputs, settings: StillsMaskSettings = STILLS_MASK_DEFAULTS): ShotMask {
  validateStillsMaskSettings(settings);
  const { shot } = inputs;
  const exp = shot.experiment;
  invariant(exp.crystal !== undefined, 'a still shot has a crystal');
  const panels = exp.detector.panels;
  const vectors = (inputs.vectors ?? new ShotVectorCache()).get(exp);
  const n = vectors.panelOffsets[vectors.panelOffsets.length - 1] as number;
  const { hkl } = hklMapCpu(shotHklParams(exp, vectors));
  const A = exp.crystal.A;
  const v = vectors.vectors;
  const lambda = exp.beam.wavelength;
  // the source's own beam spread (CrystFEL chunks) wins over the settings
  const divergence = shot.beamSpread?.divergence ?? settings.divergence;
  const bandwidth = shot.beamSpread?.bandwidth ?? settings.bandwidth;
  const fixed = divergence / lambda + settings.margin;
  const sigma = exp.profile?.sigma;
  const ellipsoidR = sigma === undefined ? 0 : settings.ellipsoidSigmas * Math.sqrt(Math.max(0, largestEigenvalue(sigma)));
  const model = (q: number): number => Math.max(spotRadius(shot.spotModel, q) ?? (sigma === undefined ? settings.fallbackRadius : 0), ellipsoidR);
  const radius = (q: number): number => settings.radiusScale * model(q) + fixed + 0.5 * q * bandwidth;

  const mask0 = new Uint8Array(n);
  const pq = pixelQOf(v, panels, vectors.panelOffsets);
  panels.forEach((panel, p) => {
    const [w, h] = panel.imageSize;
    const base = vectors.panelOffsets[p] as number;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = base + y * w + x;
        const R = radius(pq.q[i] as number) + (pq.foot[i] as number);
        const R2 = R * R;
        const hh = hkl[3 * i] as number;
        const kk = hkl[3 * i + 1] as number;
        const ll = hkl[3 * i + 2] as number;
        const h0 = Math.floor(hh);
        const k0 = Math.floor(kk);
        const l0 = Math.floor(ll);
        let hit = false;
        for (let c = 0; c < 8 && !hit; c++) {
          const dh = hh - (h0 + (c & 1));
          const dk = kk - (k0 + ((c >> 1) & 1));
          const dl = ll - (l0 + ((c >> 2) & 1));
          const ax = A[0] * dh + A[1] * dk + A[2] * dl;
          const ay = A[3] * dh + A[4] * dk + A[5] * dl;
          const az = A[6] * dh + A[7] * dk + A[8] * dl;
          hit = ax * ax + ay * ay + az * az < R2;
        }
        if (hit) mask0[i] = MASK_PREDICTED;
      }
    }
  });
  let mask = dilate(mask0, MASK_PREDICTED, vectors.panelOffsets, panels, settings.marginPx, true);

  const refl = inputs.reflections;
  if (settings.bbox && refl !== undefined) {
    for (let r = 0; r < refl.n; r++) {
      if ((refl.shot[r] as number) !== shot.index) continue;
      const p = refl.panel[r] as number;
      const panel = panels[p];
      const b = refl.bbox;
      const x0 = b[4 * r] as number;
      if (panel === undefined || x0 < 0) continue;
      const [w, h] = panel.imageSize;
      const base = vectors.panelOffsets[p] as number;
      for (let y = Math.max(0, b[4 * r + 2] as number); y < Math.min(h, b[4 * r + 3] as number); y++) {
        for (let x = Math.max(0, x0); x < Math.min(w, b[4 * r + 1] as number); x++) mask[base + y * w + x] = (mask[base + y * w + x] as number) | MASK_BBOX;
      }
    }
  }

  if (settings.outliers) {
    const image = inputs.image;
    if (image === undefined) throw new InvalidValueError(`shot ${shot.index} ('${shot.identifier}'): the outlier test needs the shot's image`, { field: 'mask.outliers' });
    if (image.pixels.length !== n) {
      throw new InvalidValueError(`image has ${image.width}×${image.height} pixels but the detector of shot ${shot.index} ('${shot.identifier}') has ${n}`, {
        file: image.source.file,
        frame: image.source.frame,
      });
    }
    const flagged = new Uint8Array(n);
    panels.forEach((panel, p) => markOutliers(mask, flagged, image.pixels, vectors.panelOffsets[p] as number, panel, settings));
    const grown = dilate(flagged, MASK_OUTLIER, vectors.panelOffsets, panels, settings.outlierDilatePx, false);
    for (let i = 0; i < n; i++) mask[i] = (mask[i] as number) | (grown[i] as number);
  }

  let predicted = 0;
  let bbox = 0;
  let outlier = 0;
  let masked = 0;
  for (let i = 0; i < n; i++) {
    const m = mask[i] as number;
    if (m !== 0) masked++;
    if ((m & MASK_PREDICTED) !== 0) predicted++;
    if ((m & MASK_BBOX) !== 0) bbox++;
    if ((m & MASK_OUTLIER) !== 0) outlier++;
  }
  return { mask, predicted, bbox, outlier, masked, fraction: n > 0 ? masked / n : 0, radius0: radius(0) };
}
