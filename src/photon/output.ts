/**
 * The scan file of a photon-level reduction (HDF5, NeXus attributes so that
 * h5py, NeXpy and silx open and plot it):
 *
 *   /                      default = entry
 *   /entry                 NXentry, default = integration or accumulated
 *     hits                 NXcollection, as the FemtoMAX pipeline writes it:
 *       hits_xye           (N, 3) float64: x = row, y = column (centre of
 *                          gravity, full-frame pixels), energy
 *       hits_frame_number  (N) uint32
 *       hottest_pixel      (N, 2) uint32: row, column
 *       attributes: roi_x [c0, c1], roi_y [r0, r1], threshold_counting,
 *       pre_threshold (E_min, strict), mode, frames
 *     raw_data             external link to the raw file named by the stream
 *                          header ("/" in it), when there is one
 *     accumulated          NXdata: data (rows, cols) float64 = per-pixel sum
 *                          over the frames where the pixel was valid, −1 where
 *                          never valid; valid_frames (rows, cols) uint32
 *     clean                NXdata: the photon clean image over the photon ROI
 *     energy_histogram     NXdata: counts vs energy (bin centres)
 *     max_energy           NXdata: largest accepted energy per frame
 *     roi_means/<name>     NXdata: mean per frame vs frame_number (and each
 *                          frame's motor_position)
 *     step_means/<name>    NXdata: y ± y_errors (std) vs x (motor or frame)
 *     integration          NXdata: I ± I_errors vs q (Å⁻¹) or 2θ (deg), and
 *                          the separate sums (sum_signal, sum_variance,
 *                          sum_normalization, count)
 *     q_rings              NXdata: overlay of the requested q rings (uint8,
 *                          ring index + 1), when asked for
 */
import { basename, join } from 'node:path';
import { setAttributes, writeHdf5Atomic, writeRowSlabs, type H5File, type H5Group } from '../io/hdf5.ts';
import type { IntegrationResult, PhotonSession, ScanRecord } from './session.ts';

function nxdata(parent: H5Group, name: string, signal: string, axes: string[], attrs: Record<string, string | number | readonly number[] | readonly string[]> = {}): H5Group {
  const g = parent.create_group(name);
  setAttributes(g, { NX_class: 'NXdata', signal, axes, ...attrs });
  return g;
}

function writeIntegration(entry: H5Group, r: IntegrationResult): void {
  const axis = r.unit === 'q_A^-1' ? 'q' : 'two_theta';
  const g = nxdata(entry, 'integration', 'I', [axis], { frames: r.frames, backend: r.backend });
  const ax = g.create_dataset({ name: axis, data: r.radial, shape: [r.radial.length] });
  setAttributes(ax, { units: r.unit === 'q_A^-1' ? '1/angstrom' : 'degree', long_name: r.unit === 'q_A^-1' ? 'q (Å⁻¹)' : '2θ (deg)' });
  g.create_dataset({ name: 'I', data: r.intensity, shape: [r.intensity.length] });
  g.create_dataset({ name: 'I_errors', data: r.sigma, shape: [r.sigma.length] });
  g.create_dataset({ name: 'sum_signal', data: r.signal, shape: [r.signal.length] });
  g.create_dataset({ name: 'sum_variance', data: r.variance, shape: [r.variance.length] });
  g.create_dataset({ name: 'sum_normalization', data: r.norm, shape: [r.norm.length] });
  g.create_dataset({ name: 'count', data: r.count, shape: [r.count.length] });
  setAttributes(g, { fixed_point_quantum: r.quantum });
}

/**
 * The scan file name: the raw file's stem + `_photon.h5`, or `scan-<n>_photon.h5`.
 * When that name is in `taken` (an earlier scan of the same run already has it:
 * two headers naming the same raw file, or two scans without a name clash with
 * a raw stem), the scan number is added, `<stem>_scan-<n>_photon.h5`, so no scan
 * overwrites another.
 */
export function scanFileName(scan: ScanRecord, taken: ReadonlySet<string> = new Set()): string {
  const stem = scan.filename !== undefined ? basename(scan.filename).replace(/\.[^.]*$/, '') : `scan-${scan.scan}`;
  const plain = `${stem}_photon.h5`;
  return taken.has(plain) ? `${stem}_scan-${scan.scan}_photon.h5` : plain;
}

export interface ScanFileExtras {
  /** the session, for the accumulated images and histogram at the end of the scan */
  session?: PhotonSession;
  integration?: IntegrationResult | null;
  /** q (Å⁻¹) of rings to draw: written as /entry/q_rings, pixel = ring index + 1 */
  qRings?: readonly number[];
  /** the file names this run has written so far; the new name is chosen apart from them and added */
  written?: Set<string>;
}

/** Writes the scan file into `dir`; returns its path. */
export async function writeScanFile(dir: string, scan: ScanRecord, extras: ScanFileExtras = {}): Promise<string> {
  const name = scanFileName(scan, extras.written);
  extras.written?.add(name);
  const path = join(dir, name);
  await writeHdf5Atomic(path, (file: H5File) => {
    setAttributes(file, { default: 'entry', creator: 'diffract photon' });
    const entry = file.create_group('entry');
    const integ = extras.integration ?? null;
    setAttributes(entry, { NX_class: 'NXentry', default: integ !== null ? 'integration' : 'accumulated', scan: scan.scan, stream: scan.stream, frames: scan.frameNumbers.length, non_finite_pixels: scan.nonFinitePixels });
    if (scan.filename !== undefined) setAttributes(entry, { raw_file: scan.filename });
    const info = JSON.stringify(scan.info);
    if (info !== '{}') setAttributes(entry, { stream_header: info });

    // hits
    const hits = entry.create_group('hits');
    const n = scan.hits.count;
    const xye = new Float64Array(3 * n);
    const hottest = new Uint32Array(2 * n);
    for (let k = 0; k < n; k++) {
      xye[3 * k] = scan.hits.posRow[k] as number;
      xye[3 * k + 1] = scan.hits.posCol[k] as number;
      xye[3 * k + 2] = scan.hits.energy[k] as number;
      hottest[2 * k] = scan.hits.row[k] as number;
      hottest[2 * k + 1] = scan.hits.col[k] as number;
    }
    const dx = hits.create_dataset({ name: 'hits_xye', data: xye, shape: [n, 3] });
    setAttributes(dx, { columns: ['x (row)', 'y (column)', 'energy'] });
    hits.create_dataset({ name: 'hits_frame_number', data: Uint32Array.from(scan.hits.frame), shape: [n] });
    hits.create_dataset({ name: 'hottest_pixel', data: hottest, shape: [n, 2] });
    const p = scan.photon;
    const hattrs: Record<string, string | number | readonly number[]> = {
      NX_class: 'NXcollection',
      detection: p.enabled ? 'on' : 'off',
      threshold_counting: p.threshold,
      pre_threshold: p.emin,
      mode: p.mode,
      frames: scan.frameNumbers.length,
    };
    if (p.roi !== null) {
      hattrs.roi_x = [p.roi.col0, p.roi.col1];
      hattrs.roi_y = [p.roi.row0, p.roi.row1];
    }
    setAttributes(hits, hattrs);
    if (scan.filename !== undefined) entry.create_external_link(scan.filename, '/', 'raw_data');

    // accumulated images
    const accum = extras.session?.accumulation() ?? null;
    if (accum !== null) {
      const [rows, cols] = accum.shape;
      const { acc } = accum;
      const g = nxdata(entry, 'accumulated', 'data', ['.', '.'], { frames: accum.frames, title: `sum of ${accum.frames} frames (−1: never valid)` });
      // in row slabs: no whole-image copies (a 4104 × 4128 image is 135 MB as f64)
      writeRowSlabs(g, 'data', rows, cols, (n) => new Float64Array(n), (r0, out) => {
        for (let k = 0, i = r0 * cols; k < out.length; k++, i++) out[k] = acc.validAt(i) > 0 ? acc.valueAt(i) : -1;
      });
      writeRowSlabs(g, 'valid_frames', rows, cols, (n) => new Uint32Array(n), (r0, out) => acc.validInto(r0 * cols, out));
    }
    const clean = extras.session?.cleanImage() ?? null;
    if (clean !== null) {
      const g = nxdata(entry, 'clean', 'data', ['.', '.'], { frames: clean.frames, roi_x: [clean.roi.col0, clean.roi.col1], roi_y: [clean.roi.row0, clean.roi.row1] });
      const cols = clean.roi.col1 - clean.roi.col0;
      writeRowSlabs(g, 'data', clean.roi.row1 - clean.roi.row0, cols, (n) => new Uint32Array(n), (r0, out) => out.set(clean.data.subarray(r0 * cols, r0 * cols + out.length)));
    }

    // histogram and pile-up monitor
    const bins = scan.histogram.length;
    if (bins > 0) {
      const h = p.histogram;
      const centres = Float64Array.from({ length: bins }, (_v, k) => h.min + ((h.max - h.min) * (k + 0.5)) / bins);
      const g = nxdata(entry, 'energy_histogram', 'counts', ['energy'], { title: 'energies of all candidate hits (before the E_min cut)' });
      g.create_dataset({ name: 'counts', data: scan.histogram, shape: [bins] });
      g.create_dataset({ name: 'energy', data: centres, shape: [bins] });
    }
    const frameNumbers = Float64Array.from(scan.frameNumbers);
    {
      const g = nxdata(entry, 'max_energy', 'max_energy', ['frame_number'], { title: 'largest accepted hit energy per frame (0: none)' });
      g.create_dataset({ name: 'max_energy', data: Float64Array.from(scan.maxEnergy), shape: [scan.maxEnergy.length] });
      g.create_dataset({ name: 'frame_number', data: frameNumbers, shape: [frameNumbers.length] });
    }

    // ROI and step means
    const names = Object.keys(scan.roiMeans);
    if (names.length > 0) {
      const rm = entry.create_group('roi_means');
      setAttributes(rm, { NX_class: 'NXcollection' });
      const sm = entry.create_group('step_means');
      setAttributes(sm, { NX_class: 'NXcollection' });
      const axis = scan.steps[0]?.axis ?? 'frame';
      for (const name of names) {
        const vals = Float64Array.from(scan.roiMeans[name] ?? []);
        const g = nxdata(rm, name, 'mean', ['frame_number']);
        g.create_dataset({ name: 'mean', data: vals, shape: [vals.length] });
        g.create_dataset({ name: 'frame_number', data: frameNumbers, shape: [frameNumbers.length] });
        const mp = g.create_dataset({ name: 'motor_position', data: Float64Array.from(scan.positions), shape: [scan.positions.length] });
        setAttributes(mp, { long_name: axis });
        const s = nxdata(sm, name, 'y', ['x']);
        const x = Float64Array.from(scan.steps, (st) => st.x);
        const y = Float64Array.from(scan.steps, (st) => st.means[name]?.mean ?? NaN);
        const e = Float64Array.from(scan.steps, (st) => st.means[name]?.std ?? NaN);
        const xd = s.create_dataset({ name: 'x', data: x, shape: [x.length] });
        setAttributes(xd, { long_name: axis });
        s.create_dataset({ name: 'y', data: y, shape: [y.length] });
        s.create_dataset({ name: 'y_errors', data: e, shape: [e.length] });
        s.create_dataset({ name: 'frames', data: Uint32Array.from(scan.steps, (st) => st.frames.length), shape: [scan.steps.length] });
      }
    }
    if (integ !== null) writeIntegration(entry, integ);
    const rings = extras.qRings !== undefined && extras.qRings.length > 0 ? (extras.session?.ringOverlay(extras.qRings) ?? null) : null;
    const shape = extras.session?.frameShape ?? null;
    if (rings !== null && shape !== null) {
      const g = nxdata(entry, 'q_rings', 'data', ['.', '.'], { q: extras.qRings ?? [], title: 'pixels crossed by the q rings (ring index + 1)' });
      g.create_dataset({ name: 'data', data: rings, shape: [shape[0], shape[1]] });
    }
  });
  return path;
}
