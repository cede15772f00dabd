/**
 * Stage `photon`: photon-level reduction of detector event streams (photon
 * detection on a ROI, CMOS correction, accumulation, ROI and scan-step means,
 * azimuthal integration at the end of every scan) — a thin stage over the
 * streaming `PhotonSession` (src/photon/session.ts). Each finished scan is
 * handed to `inputs.onScan` (the CLI writes it with `writeScanFile`,
 * src/photon/output.ts); `run` returns one summary per scan.
 */
import type { PoniGeometry } from '../io/poni.ts';
import type { PhotonMode } from '../kernels/photon-detect.ts';
import type { RadialUnit } from '../photon/geometry.ts';
import type { Roi } from '../photon/roi.ts';
import { PhotonSession, type Correction, type IntegrationResult, type ScanRecord } from '../photon/session.ts';
import type { SourceEvent } from '../photon/sources.ts';
import type { StageContext } from './context.ts';
import { checkFinite, checkInt, checkOneOf, checkRange, SettingError } from './settings-check.ts';
import type { Stage } from './stage.ts';

export interface PhotonSettings {
  /** run photon detection */
  detect: boolean;
  /** counting threshold on raw values (with the CMOS offset) */
  threshold: number;
  /** keep hits with 3×3 energy above this */
  emin: number;
  mode: PhotonMode;
  /** the photon-detection ROI; null: the whole frame */
  roi: Roi | null;
  /** ROIs of the per-frame means, by name */
  rois: Record<string, Roi>;
  /** image correction: auto (cmos for uint8/uint16 frames), none, cmos */
  correction: 'auto' | 'none' | 'cmos';
  /** CMOS dark level, or a dark frame */
  dark: number | Float32Array;
  /** CMOS: zero corrected pixels below this */
  cmosThreshold: number;
  /** frames per photon-detection batch (results do not depend on it) */
  batch: number;
  /** radial bins of the azimuthal integration */
  bins: number;
  unit: RadialUnit;
  /** polarization factor in [-1, 1]; null: no correction */
  polarization: number | null;
  /** the detector stream to use; null: the first stream1 stream */
  stream: string | null;
}

export const PHOTON_DEFAULTS: PhotonSettings = {
  detect: true,
  threshold: 108,
  emin: 1100,
  mode: 'reference',
  roi: null,
  rois: {},
  correction: 'auto',
  dark: 100,
  cmosThreshold: 12,
  batch: 8,
  bins: 1000,
  unit: 'q_A^-1',
  polarization: null,
  stream: null,
};

export interface PhotonInputs {
  events: AsyncIterable<SourceEvent>;
  /** integrate every scan azimuthally with this geometry; null: no integration */
  poni: PoniGeometry | null;
  /** called when a scan ends, before the next scan adds frames (write it here) */
  onScan?: (scan: ScanRecord, integration: IntegrationResult | null, session: PhotonSession) => Promise<void>;
}

export interface PhotonScanSummary {
  scan: number;
  raw: string | null;
  frames: number;
  hits: number;
  steps: number;
  maxEnergy: number;
  integration: { bins: number; frames: number; backend: string } | null;
}

export interface PhotonResult {
  scans: PhotonScanSummary[];
}

export function validatePhotonSettings(s: PhotonSettings): void {
  checkFinite(s.threshold, 'threshold');
  checkFinite(s.emin, 'emin');
  checkOneOf(s.mode, 'mode', ['reference', 'local-max'] as const);
  checkOneOf(s.correction, 'correction', ['auto', 'none', 'cmos'] as const);
  if (typeof s.dark === 'number') checkFinite(s.dark, 'dark');
  checkFinite(s.cmosThreshold, 'cmosThreshold');
  checkInt(s.batch, 'batch', 1);
  checkInt(s.bins, 'bins', 1);
  checkOneOf(s.unit, 'unit', ['q_A^-1', '2th_deg'] as const);
  if (s.polarization !== null) checkRange(s.polarization, 'polarization', -1, 1, 'in [-1, 1]');
  if (s.stream !== null && s.stream === '') throw new SettingError('stream', 'must name a stream', s.stream);
}

/** The session's correction from the settings. */
export function photonCorrection(s: PhotonSettings): Correction | 'auto' {
  if (s.correction === 'auto') return 'auto';
  if (s.correction === 'none') return { kind: 'none' };
  return { kind: 'cmos', dark: s.dark, zeroBelow: s.cmosThreshold };
}

export function scanSummary(scan: ScanRecord, integ: IntegrationResult | null): PhotonScanSummary {
  return {
    scan: scan.scan,
    raw: scan.filename ?? null,
    frames: scan.frameNumbers.length,
    hits: scan.hits.count,
    steps: scan.steps.length,
    maxEnergy: scan.maxEnergy.reduce((a, b) => Math.max(a, b), 0),
    integration: integ === null ? null : { bins: integ.radial.length, frames: integ.frames, backend: integ.backend },
  };
}

async function run(ctx: StageContext, inputs: PhotonInputs, s: PhotonSettings): Promise<PhotonResult> {
  validatePhotonSettings(s);
  const session = new PhotonSession({
    engine: ctx.engine,
    photon: s.detect ? { threshold: s.threshold, emin: s.emin, mode: s.mode, ...(s.roi !== null ? { roi: s.roi } : {}) } : null,
    correction: photonCorrection(s),
    rois: { ...s.rois },
    batchSize: s.batch,
    ...(s.stream !== null ? { stream: s.stream } : {}),
    integration: inputs.poni === null ? null : { poni: inputs.poni, bins: s.bins, unit: s.unit, ...(s.polarization !== null ? { polarizationFactor: s.polarization } : {}) },
  });
  const scans: PhotonScanSummary[] = [];
  const pending: Array<Promise<void>> = [];
  session.on('reset', (r) => ctx.log.log('notice', `accumulation reset (${r.reason}${r.from !== undefined && r.to !== undefined ? `: ${r.from.join('×')} → ${r.to.join('×')}` : ''})`));
  session.on('scan-end', (scan) => {
    // integrate and hand over before the next scan adds frames
    pending.push(
      (async () => {
        const integ = inputs.poni !== null && session.accumulatedImage() !== null ? await session.integrate() : null;
        await inputs.onScan?.(scan, integ, session);
        scans.push(scanSummary(scan, integ));
      })(),
    );
  });
  try {
    for await (const ev of inputs.events) {
      await session.handle(ev);
      // the scan-end handler queued its work synchronously: finish it here
      while (pending.length > 0) await pending.shift();
    }
    await session.finish();
    while (pending.length > 0) await pending.shift();
  } finally {
    await session.close();
  }
  return { scans };
}

export const photonStage: Stage<PhotonInputs, PhotonSettings, PhotonResult> = { name: 'photon', defaults: PHOTON_DEFAULTS, run };
