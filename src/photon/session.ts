/**
 * PhotonSession: the live state of a FemtoMAX-style photon-level reduction —
 * what a viewer subscribes to.
 *
 * Feed it `SourceEvent`s (src/photon/sources.ts) with `handle()` or `run()`.
 * Per detector frame it
 *   1. corrects the image: CMOS (subtract the dark level — a number, default
 *      100, or a dark frame —, clip at 0, zero pixels below a threshold,
 *      default 12) or none (Pilatus: photon counting already); pixels < 0
 *      (Pilatus −1 gap / −2 bad markers) or not finite are invalid;
 *   2. detects photons on the photon ROI (photon-detect kernel, batched).
 *      Non-finite pixels (Infinity, NaN: float frames only) are MASKED, not
 *      refused: the detector sees them as 0 (no photon there, none of their
 *      value in a neighbour's 3×3 energy; Infinity used to make every
 *      neighbour a hit and NaN energies), they are left out of the
 *      accumulation and ROI means, and they are counted: per frame
 *      (`FrameSummary.nonFinitePixels`), per scan (`ScanRecord.nonFinitePixels`,
 *      `nonFiniteFrames`), with one warning line per scan that had any;
 *   3. adds the corrected image (per pixel: sum over the frames where it was
 *      valid, and that number of frames) and the photon "clean" image into the
 *      accumulation, while accumulation runs (`start()` / `stop()`);
 *   4. takes the mean of every ROI: over the valid pixels of the corrected
 *      image (roiSource 'image'), or photons per pixel of the clean image
 *      (roiSource 'photons'). (The original pipeline clipped at 0 and so
 *      counted masked Pilatus pixels as zeros; here they are left out.)
 *   5. groups frames into scan steps: with a Sardana stream, the frames up to
 *      each RecordData form a step at the reference motor's position; without
 *      one, every frame is its own step at x = frame number; each step gets the
 *      mean and (population) std of its frames' ROI means.
 *
 * Accumulation runs across frames and scans. It resets — with a 'reset' event
 * naming the reason — when the image shape changes (a documented reset, not an
 * error, unless `onShapeChange: 'error'`), when the photon ROI changes, and on
 * `reset()`. Changing the mean ROIs resets the ROI-mean tables of the open scan.
 * Frames are processed in batches (`batchSize`); every control (start, stop,
 * reset, setPhoton, setRois) first processes the frames already received, so
 * it applies from the next frame on whatever the batch size.
 *
 * Events (`on(name, listener)` returns an unsubscribe function; listeners run
 * synchronously, in order):
 *   'scan-start'   ScanStartEvent     a stream1 header (or the first frame)
 *   'frame'        FrameSummary       after each frame is processed
 *   'step'         StepResult         a scan step closed
 *   'reset'        ResetEvent         the accumulation was cleared
 *   'accumulation' { running }        start()/stop()
 *   'integration'  IntegrationResult  integrate() finished
 *   'scan-end'     ScanRecord         series_end (or finish()): everything for the scan file
 * Pull-style views for drawing: accumulatedImage(), cleanImage(),
 * latestImage(), histogram(), ringOverlay(q); integrate() on demand.
 */
import { FormatError, InvalidValueError, invariant } from '../errors.ts';
import type { Engine } from '../host/engine.ts';
import { defaultMemoryMb, MIB } from '../host/node-memory.ts';
import type { SardanaDescription } from '../io/sardana.ts';
import type { FrameArray } from '../io/stream1.ts';
import type { PoniGeometry } from '../io/poni.ts';
import { azimuthalIntegrateKernel, finishIntegration } from '../kernels/azimuthal-integrate.ts';
import {
  PHOTON_DEFAULTS,
  concatHits,
  cropFrames,
  photonDetectKernel,
  type PhotonHistogramSpec,
  type PhotonHits,
  type PhotonMode,
} from '../kernels/photon-detect.ts';
import { log } from '../util/log.ts';
import { addCount, correctedAt, correctFrame, correctionDark, ImageAccumulation, type Correction } from './accumulation.ts';
import type { FrameDetectorSetup } from './frame-detector.ts';
import { CpuPhotonDetection, type BatchDetection } from './threaded-detection.ts';
import { buildBinMap, ringOverlay, type BinMap, type RadialUnit } from './geometry.ts';
import { clipRoi, formatRoi, roiArea, roiEquals, type Roi } from './roi.ts';
import type { FrameEvent, SourceEvent } from './sources.ts';

export type { Correction } from './accumulation.ts';

export interface PhotonConfig {
  /** default: the whole frame */
  roi?: Roi;
  threshold?: number;
  emin?: number;
  mode?: PhotonMode;
  histogram?: PhotonHistogramSpec;
}

export interface IntegrationConfig {
  poni: PoniGeometry;
  /** default 1000 */
  bins?: number;
  unit?: RadialUnit;
  range?: [number, number];
  solidAngle?: boolean;
  polarizationFactor?: number;
  /** 1 = usable, same layout as the frames */
  mask?: Uint8Array;
}

export interface PhotonSessionOptions {
  engine: Engine;
  /** photon detection; null or absent = off */
  photon?: PhotonConfig | null;
  /** 'auto' (default): CMOS with dark 100 / threshold 12 for uint8/uint16 frames, none otherwise */
  correction?: Correction | 'auto';
  rois?: Record<string, Roi>;
  /** what ROI means are taken on (default 'photons' when photon detection is on, else 'image') */
  roiSource?: 'image' | 'photons';
  integration?: IntegrationConfig | null;
  /** the detector stream to use (default: the first stream1 stream seen) */
  stream?: string;
  /** frames per photon-detect batch on the GPU (default 8; on the CPU at most one per thread); results do not depend on it */
  batchSize?: number;
  /** CPU photon-detection threads (default: the engine's, `--threads`); results do not depend on it */
  threads?: number;
  /** 'reset' (default): a new shape resets the accumulation; 'error': InvalidValueError */
  onShapeChange?: 'reset' | 'error';
  /** keep each scan's hit list for the scan file (default true) */
  keepHits?: boolean;
}

export interface ScanStartEvent {
  scan: number;
  stream: string;
  filename?: string;
  info: Record<string, unknown>;
}

export interface FrameSummary {
  scan: number;
  /** frame number within the series */
  frame: number;
  eventNumber: number;
  shape: [number, number];
  /** accepted hits in this frame (0 when detection is off) */
  hits: number;
  /** largest accepted energy, 0 when none */
  maxEnergy: number;
  roiMeans: Record<string, number>;
  /** frames in the accumulation after this one */
  accumulatedFrames: number;
  accumulating: boolean;
  /** the step this frame belongs to (its index within the scan) */
  step: number;
  /** pixels of this frame that were Infinity or NaN (masked) */
  nonFinitePixels: number;
}

export interface StepStat {
  mean: number;
  std: number;
  n: number;
}

export interface StepResult {
  scan: number;
  step: number;
  /** motor position, or the frame number when there is no motor stream */
  x: number;
  /** the motor's name, or 'frame' */
  axis: string;
  pointNb?: number;
  frames: number[];
  means: Record<string, StepStat>;
}

export interface ResetEvent {
  reason: 'shape' | 'roi' | 'user';
  from?: [number, number];
  to?: [number, number];
}

export interface IntegrationResult {
  unit: RadialUnit;
  radial: Float64Array;
  intensity: Float64Array;
  sigma: Float64Array;
  signal: Float64Array;
  variance: Float64Array;
  norm: Float64Array;
  count: Uint32Array;
  /** frames in the accumulated image */
  frames: number;
  quantum: [number, number, number];
  backend: 'gpu' | 'cpu';
}

export interface ScanRecord {
  scan: number;
  stream: string;
  /** the raw file named by the stream1 header */
  filename?: string;
  info: Record<string, unknown>;
  frameNumbers: number[];
  eventNumbers: number[];
  /** per frame: the reference motor position of its step (the frame number without a motor stream; NaN until the step closes) */
  positions: number[];
  /** accepted hits, full-frame coordinates, frame = frame number */
  hits: PhotonHits;
  maxEnergy: number[];
  roiMeans: Record<string, number[]>;
  steps: StepResult[];
  motor?: SardanaDescription;
  /** energy histogram of this scan's candidate hits */
  histogram: Uint32Array;
  photon: Required<Omit<PhotonConfig, 'roi'>> & { roi: Roi | null; enabled: boolean };
  shape: [number, number] | null;
  /** Infinity or NaN pixels masked in this scan's frames, and how many frames had any */
  nonFinitePixels: number;
  nonFiniteFrames: number;
}

interface SessionEvents {
  'scan-start': ScanStartEvent;
  frame: FrameSummary;
  step: StepResult;
  reset: ResetEvent;
  accumulation: { running: boolean };
  integration: IntegrationResult;
  'scan-end': ScanRecord;
}

export type SessionEventName = keyof SessionEvents;
type Listener<K extends SessionEventName> = (payload: SessionEvents[K]) => void;

interface OpenScan {
  rec: ScanRecord;
  hitParts: PhotonHits[];
  /** indices into rec.frameNumbers of frames not yet in a closed step */
  pending: number[];
}

const INTEGER_TYPES = new Set(['uint8', 'uint16', 'int8']);

export class PhotonSession {
  readonly engine: Engine;
  private photonCfg: PhotonConfig | null;
  private correctionCfg: Correction | 'auto';
  private rois: Record<string, Roi>;
  private roiSourceCfg: 'image' | 'photons' | undefined;
  private integrationCfg: IntegrationConfig | null;
  private readonly batchSize: number;
  /** threads of the CPU photon detection */
  private readonly cpuThreads: number;
  private readonly onShapeChange: 'reset' | 'error';
  private readonly keepHits: boolean;
  private streamName: string | undefined;

  private shape: [number, number] | null = null;
  private photonRoi: Roi | null = null;
  private acc: ImageAccumulation | null = null;
  private accFrames = 0;
  /** photon counts per pixel of the ROI: u16 until a pixel reaches 65,535, then u32 */
  private cleanAcc: Uint16Array | Uint32Array | null = null;
  private histAcc: Uint32Array;
  private running = true;
  /** the last frame and its correction; corrected into `latest` when asked for */
  private last: { ev: FrameEvent; corr: Correction } | null = null;
  private latest: { of: FrameEvent; image: Float32Array } | null = null;
  private binMap: { key: string; map: BinMap } | null = null;
  /** the CPU photon detection (its worker threads), made on first use */
  private cpuDetection: CpuPhotonDetection | null = null;

  private scan: OpenScan | null = null;
  private scanCount = 0;
  private motor: SardanaDescription | undefined;
  private batch: FrameEvent[] = [];
  private readonly listeners = new Map<SessionEventName, Array<(p: never) => void>>();

  constructor(opts: PhotonSessionOptions) {
    this.engine = opts.engine;
    this.photonCfg = opts.photon ?? null;
    this.correctionCfg = opts.correction ?? 'auto';
    this.rois = { ...(opts.rois ?? {}) };
    this.roiSourceCfg = opts.roiSource;
    this.integrationCfg = opts.integration ?? null;
    this.batchSize = opts.batchSize ?? 8;
    this.cpuThreads = opts.threads ?? this.engine.threads;
    if (!Number.isSafeInteger(this.cpuThreads) || this.cpuThreads < 1) throw new InvalidValueError(`threads must be a positive integer, got ${this.cpuThreads}`, { field: 'threads' });
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new InvalidValueError(`batch size must be a positive integer, got ${this.batchSize}`, { field: 'batchSize' });
    this.onShapeChange = opts.onShapeChange ?? 'reset';
    this.keepHits = opts.keepHits ?? true;
    this.streamName = opts.stream;
    // the worker threads start now, while the source opens and the first frames are read
    if (this.engine.backend === 'cpu' && this.cpuThreads > 1 && this.photonCfg !== null) this.cpuDetection = new CpuPhotonDetection(this.cpuThreads);
    this.histAcc = new Uint32Array(this.histSpec().bins);
  }

  // ---- events ----

  on<K extends SessionEventName>(name: K, listener: Listener<K>): () => void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener as (p: never) => void);
    this.listeners.set(name, list);
    return () => {
      const l = this.listeners.get(name);
      if (l !== undefined) l.splice(l.indexOf(listener as (p: never) => void), 1);
    };
  }

  private emit<K extends SessionEventName>(name: K, payload: SessionEvents[K]): void {
    for (const l of this.listeners.get(name) ?? []) (l as Listener<K>)(payload);
  }

  // ---- controls ----

  /** Starts (resumes) accumulating; frames received before the call are processed first. */
  async start(): Promise<void> {
    await this.flush();
    if (this.running) return;
    this.running = true;
    this.emit('accumulation', { running: true });
  }

  /** Stops accumulating: later frames are still analysed (hits, ROI means) but not added. */
  async stop(): Promise<void> {
    await this.flush();
    if (!this.running) return;
    this.running = false;
    this.emit('accumulation', { running: false });
  }

  get accumulating(): boolean {
    return this.running;
  }

  /** Clears the accumulated images and histogram (after processing the frames received so far). */
  async reset(): Promise<void> {
    await this.flush();
    this.clear('user');
  }

  private clear(reason: ResetEvent['reason'], extra: Omit<ResetEvent, 'reason'> = {}): void {
    this.acc = null;
    this.cleanAcc = null;
    this.accFrames = 0;
    this.histAcc = new Uint32Array(this.histSpec().bins);
    this.emit('reset', { reason, ...extra });
  }

  /** Changes the photon detection settings; a different ROI resets the accumulation. */
  async setPhoton(cfg: PhotonConfig | null): Promise<void> {
    await this.flush();
    const oldRoi = this.photonCfg?.roi ?? null;
    const newRoi = cfg?.roi ?? null;
    const wasOn = this.photonCfg !== null;
    this.photonCfg = cfg;
    if (this.shape !== null) this.photonRoi = this.resolvePhotonRoi(this.shape);
    if (!roiEquals(oldRoi, newRoi) || wasOn !== (cfg !== null)) this.clear('roi');
  }

  /** Replaces the mean ROIs; the open scan's ROI-mean tables restart. */
  async setRois(rois: Record<string, Roi>): Promise<void> {
    await this.flush();
    if (this.shape !== null) for (const [name, r] of Object.entries(rois)) clipRoi(r, this.shape[0], this.shape[1], name);
    this.rois = { ...rois };
    if (this.scan !== null) {
      this.scan.rec.roiMeans = Object.fromEntries(Object.keys(rois).map((k) => [k, this.scan!.rec.frameNumbers.map(() => NaN)]));
    }
  }

  setIntegration(cfg: IntegrationConfig | null): void {
    this.integrationCfg = cfg;
    this.binMap = null;
  }

  // ---- views ----

  get frameShape(): [number, number] | null {
    return this.shape;
  }
  get accumulatedFrames(): number {
    return this.accFrames;
  }
  get currentPhotonRoi(): Roi | null {
    return this.photonRoi;
  }

  /** The accumulated corrected image: per pixel the sum over valid frames, and how many frames were valid (copies while the sums are held as integers: see `accumulation()`). */
  accumulatedImage(): { data: Float64Array; valid: Uint32Array; frames: number; shape: [number, number] } | null {
    if (this.acc === null || this.shape === null) return null;
    return { data: this.acc.toFloat64(), valid: this.acc.validCounts(), frames: this.accFrames, shape: this.shape };
  }

  /** The accumulation itself (per-pixel valid counts read without a whole-image copy: the scan file's writer). */
  accumulation(): { acc: ImageAccumulation; frames: number; shape: [number, number] } | null {
    if (this.acc === null || this.shape === null) return null;
    return { acc: this.acc, frames: this.accFrames, shape: this.shape };
  }

  /** The accumulated photon clean image over the photon ROI (counts per pixel: u16 while every count fits, then u32). */
  cleanImage(): { data: Uint16Array | Uint32Array; roi: Roi; frames: number } | null {
    if (this.cleanAcc === null || this.photonRoi === null) return null;
    return { data: this.cleanAcc, roi: this.photonRoi, frames: this.accFrames };
  }

  /** The last corrected frame (what a viewer shows when accumulation is stopped); the same buffer is overwritten by the next frame. */
  latestImage(): Float32Array | null {
    const last = this.last;
    if (last === null) return null;
    if (this.latest?.of !== last.ev) {
      const n = last.ev.data.length;
      const image = this.latest !== null && this.latest.image.length === n ? this.latest.image : new Float32Array(n);
      this.latest = { of: last.ev, image: correctFrame(last.ev.data, last.corr, image, { file: last.ev.source, frame: last.ev.frame }) };
    }
    return this.latest.image;
  }

  /** The accumulated energy histogram: counts and bin edges. */
  histogram(): { counts: Uint32Array; edges: Float64Array } {
    const h = this.histSpec();
    return { counts: this.histAcc, edges: Float64Array.from({ length: h.bins + 1 }, (_v, k) => h.min + ((h.max - h.min) * k) / h.bins) };
  }

  /** Pixels crossed by the rings at `values` (q in Å⁻¹ by default), for drawing q curves over the image. */
  ringOverlay(values: readonly number[], unit: RadialUnit = 'q_A^-1'): Uint8Array | null {
    if (this.integrationCfg === null || this.shape === null) return null;
    return ringOverlay(this.integrationCfg.poni, this.shape[0], this.shape[1], values, unit);
  }

  // ---- processing ----

  /** Processes a whole source, then closes the open scan. */
  async run(source: AsyncIterable<SourceEvent>): Promise<void> {
    for await (const ev of source) await this.handle(ev);
    await this.finish();
  }

  async handle(ev: SourceEvent): Promise<void> {
    switch (ev.kind) {
      case 'motor': {
        await this.flush();
        const m = ev.message;
        if (m.type === 'DataDescription') {
          this.motor = m;
          if (this.scan !== null) this.scan.rec.motor = m;
        } else if (m.type === 'RecordData') {
          const name = this.motor?.refMotor;
          const x = name !== undefined ? m.values[name] : undefined;
          this.closeStep(x ?? NaN, m.pointNb);
        } else {
          this.closeStep(NaN, undefined);
          this.motor = undefined;
        }
        return;
      }
      case 'header': {
        if (!this.acceptStream(ev.stream)) return;
        await this.flush();
        if (this.scan !== null) this.endScan();
        this.openScan(ev.stream, ev.header.filename, ev.header.info);
        return;
      }
      case 'frame': {
        if (!this.acceptStream(ev.stream)) return;
        if (this.scan === null) this.openScan(ev.stream, undefined, {});
        const cur = this.batch[0]?.shape ?? this.shape;
        if (cur !== null && (ev.shape[0] !== cur[0] || ev.shape[1] !== cur[1])) await this.flush();
        this.batch.push(ev);
        if (this.batch.length >= this.batchLimit()) await this.flush();
        return;
      }
      case 'series-end': {
        if (!this.acceptStream(ev.stream)) return;
        await this.flush();
        if (this.scan !== null) this.endScan();
        return;
      }
    }
  }

  /** Processes buffered frames and closes the open scan. */
  async finish(): Promise<void> {
    await this.flush();
    if (this.scan !== null) this.endScan();
  }

  /** Integrates the accumulated image azimuthally (needs an integration config). */
  async integrate(): Promise<IntegrationResult> {
    await this.flush();
    const cfg = this.integrationCfg;
    if (cfg === null) throw new InvalidValueError('azimuthal integration needs a PONI geometry (integration config)', { field: 'poni' });
    const accum = this.accumulation();
    if (accum === null) throw new InvalidValueError('nothing accumulated to integrate', { field: 'accumulation' });
    const { acc } = accum;
    const map = this.binMapFor(cfg, accum.shape);
    const n = acc.length;
    const image = new Float32Array(n);
    const norm = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const v = acc.validAt(k);
      image[k] = v > 0 ? acc.valueAt(k) : -1;
      norm[k] = Math.fround((map.normalization[k] as number) * v);
    }
    const backend = this.engine.backend;
    const r = await this.engine.run(azimuthalIntegrateKernel, { image, binIndex: map.binIndex, norm, bins: map.bins });
    const { intensity, sigma } = finishIntegration(r);
    const out: IntegrationResult = { unit: map.unit, radial: map.centers, intensity, sigma, signal: r.signal, variance: r.variance, norm: r.norm, count: r.count, frames: accum.frames, quantum: r.quantum, backend };
    this.emit('integration', out);
    return out;
  }

  // ---- internals ----

  /**
   * Frames held before a batch is processed: `batchSize` on the GPU (one
   * upload per batch); on the CPU one frame per thread (the CPU path gains
   * nothing from holding more), and no more than half the memory budget
   * (`--memory-mb`) holds — the other half is for the per-pixel sums.
   */
  private batchLimit(): number {
    if (this.engine.backend !== 'cpu') return this.batchSize;
    const frameBytes = this.batch[0]?.data.byteLength ?? 0;
    const byBudget = frameBytes > 0 ? Math.floor(((this.engine.memoryMb ?? defaultMemoryMb()) * MIB) / 2 / frameBytes) : Infinity;
    return Math.max(1, Math.min(this.batchSize, this.cpuThreads, byBudget));
  }

  private histSpec(): PhotonHistogramSpec {
    return this.photonCfg?.histogram ?? PHOTON_DEFAULTS.histogram;
  }

  private acceptStream(stream: string): boolean {
    this.streamName ??= stream;
    return stream === this.streamName;
  }

  private roiSource(): 'image' | 'photons' {
    return this.roiSourceCfg ?? (this.photonCfg !== null ? 'photons' : 'image');
  }

  private binMapFor(cfg: IntegrationConfig, shape: [number, number]): BinMap {
    const key = JSON.stringify([shape, cfg.poni, cfg.bins ?? 1000, cfg.unit ?? 'q_A^-1', cfg.range ?? null, cfg.solidAngle ?? true, cfg.polarizationFactor ?? null, cfg.mask?.length ?? -1]);
    if (this.binMap === null || this.binMap.key !== key) {
      const o: Parameters<typeof buildBinMap>[3] = { bins: cfg.bins ?? 1000, unit: cfg.unit ?? 'q_A^-1', solidAngle: cfg.solidAngle ?? true };
      if (cfg.range !== undefined) o.range = cfg.range;
      if (cfg.polarizationFactor !== undefined) o.polarizationFactor = cfg.polarizationFactor;
      if (cfg.mask !== undefined) o.mask = cfg.mask;
      this.binMap = { key, map: buildBinMap(cfg.poni, shape[0], shape[1], o) };
    }
    return this.binMap.map;
  }

  private resolvePhotonRoi(shape: [number, number]): Roi | null {
    if (this.photonCfg === null) return null;
    const r = this.photonCfg.roi ?? { row0: 0, row1: shape[0], col0: 0, col1: shape[1] };
    return clipRoi(r, shape[0], shape[1], 'photon');
  }

  private photonSnapshot(): ScanRecord['photon'] {
    const p = this.photonCfg;
    return {
      enabled: p !== null,
      roi: this.photonRoi,
      threshold: p?.threshold ?? PHOTON_DEFAULTS.threshold,
      emin: p?.emin ?? PHOTON_DEFAULTS.emin,
      mode: p?.mode ?? PHOTON_DEFAULTS.mode,
      histogram: this.histSpec(),
    };
  }

  private openScan(stream: string, filename: string | undefined, info: Record<string, unknown>): void {
    const rec: ScanRecord = {
      scan: this.scanCount++,
      stream,
      info,
      frameNumbers: [],
      eventNumbers: [],
      positions: [],
      hits: concatHits([]),
      maxEnergy: [],
      roiMeans: Object.fromEntries(Object.keys(this.rois).map((k) => [k, []])),
      steps: [],
      histogram: new Uint32Array(this.histSpec().bins),
      photon: this.photonSnapshot(),
      shape: this.shape,
      nonFinitePixels: 0,
      nonFiniteFrames: 0,
    };
    if (filename !== undefined) rec.filename = filename;
    if (this.motor !== undefined) rec.motor = this.motor;
    this.scan = { rec, hitParts: [], pending: [] };
    const ev: ScanStartEvent = { scan: rec.scan, stream, info };
    if (filename !== undefined) ev.filename = filename;
    this.emit('scan-start', ev);
  }

  private endScan(): void {
    const s = this.scan;
    invariant(s !== null, 'endScan with an open scan');
    if (s.pending.length > 0) this.closeStep(NaN, undefined);
    s.rec.hits = concatHits(s.hitParts);
    s.rec.photon = this.photonSnapshot();
    s.rec.shape = this.shape;
    if (s.rec.nonFinitePixels > 0) {
      log('warn', `scan ${s.rec.scan} (${s.rec.stream}): ${s.rec.nonFinitePixels} Infinity/NaN pixels in ${s.rec.nonFiniteFrames} of ${s.rec.frameNumbers.length} frames were masked (no hits there, left out of the sums)`);
    }
    this.scan = null;
    this.emit('scan-end', s.rec);
  }

  /** Closes the pending frames of the open scan as one step at x (motor mode). */
  private closeStep(x: number, pointNb: number | undefined): void {
    const s = this.scan;
    if (s === null || s.pending.length === 0) return;
    const frames = s.pending;
    s.pending = [];
    const step: StepResult = { scan: s.rec.scan, step: s.rec.steps.length, x, axis: this.motor?.refMotor ?? 'frame', frames: frames.map((i) => s.rec.frameNumbers[i] as number), means: {} };
    if (pointNb !== undefined) step.pointNb = pointNb;
    for (const i of frames) s.rec.positions[i] = x;
    for (const [name, values] of Object.entries(s.rec.roiMeans)) {
      const v = frames.map((i) => values[i] as number).filter((m) => Number.isFinite(m));
      const mean = v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
      const std = v.length > 0 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) * (b - mean), 0) / v.length) : NaN;
      step.means[name] = { mean, std, n: v.length };
    }
    s.rec.steps.push(step);
    this.emit('step', step);
  }

  private correction(type: string): Correction {
    if (this.correctionCfg !== 'auto') return this.correctionCfg;
    return INTEGER_TYPES.has(type) ? { kind: 'cmos', dark: 100, zeroBelow: 12 } : { kind: 'none' };
  }

  private adoptShape(shape: [number, number], ev: FrameEvent): void {
    if (this.shape !== null && this.shape[0] === shape[0] && this.shape[1] === shape[1]) return;
    const from = this.shape;
    if (from !== null && this.onShapeChange === 'error') {
      throw new InvalidValueError(`frame shape changed from ${from[0]}×${from[1]} to ${shape[0]}×${shape[1]} mid-scan`, { file: ev.source, frame: ev.frame, field: 'shape' });
    }
    for (const [name, r] of Object.entries(this.rois)) clipRoi(r, shape[0], shape[1], name);
    this.shape = shape;
    this.photonRoi = this.resolvePhotonRoi(shape);
    if (from !== null) {
      log('warn', `${ev.source}: frame ${ev.frame} is ${shape[0]}×${shape[1]}, not ${from[0]}×${from[1]}: accumulation reset`);
      this.clear('shape', { from, to: shape });
    }
  }

  /** Processes the buffered frames (all of one shape). */
  private async flush(): Promise<void> {
    const frames = this.batch;
    if (frames.length === 0) return;
    this.batch = [];
    const first = frames[0] as FrameEvent;
    this.adoptShape(first.shape, first);
    const [rows, cols] = first.shape;
    const n = rows * cols;
    for (const f of frames) {
      invariant(f.shape[0] === rows && f.shape[1] === cols, 'a batch holds one shape');
      if (f.data.length !== n) throw new FormatError(`frame has ${f.data.length} values for shape ${rows}×${cols}`, { file: f.source, frame: f.frame });
    }
    const scan = this.scan;
    invariant(scan !== null, 'frames belong to an open scan');
    const nonFinite = frames.map((f) => countNonFinite(f.data));

    // 2. photon detection on the batch
    const perFrameHits = new Array<number>(frames.length).fill(0);
    const perFrameMax = new Array<number>(frames.length).fill(0);
    let batchHits: PhotonHits | null = null;
    const proi = this.photonRoi;
    const p = this.photonCfg;
    // 3. accumulation (before the frame events, which report the accumulated frames),
    // frame by frame as the detection takes the frames (worker threads, GPU: it overlaps)
    const accBefore = this.accFrames;
    const accumulate = (f: FrameEvent, data: FrameArray): void => {
      if (!this.running) return;
      this.acc ??= new ImageAccumulation(n);
      this.acc.add(data, this.correction(f.type), { file: f.source, frame: f.frame });
      this.accFrames++;
    };
    const detection = p !== null && proi !== null ? await this.detect(frames, p, proi, rows, cols, accumulate) : null;
    if (detection === null) for (const f of frames) accumulate(f, f.data);

    if (detection !== null && proi !== null) {
      const res = detection;
      const h = res.hits;
      for (let k = 0; k < h.count; k++) {
        const bf = h.frame[k] as number;
        perFrameHits[bf] = (perFrameHits[bf] as number) + 1;
        h.frame[k] = (frames[bf] as FrameEvent).frame;
        h.row[k] = (h.row[k] as number) + proi.row0;
        h.col[k] = (h.col[k] as number) + proi.col0;
        h.posRow[k] = (h.posRow[k] as number) + proi.row0;
        h.posCol[k] = (h.posCol[k] as number) + proi.col0;
      }
      res.maxEnergy.forEach((e, k) => (perFrameMax[k] = e));
      batchHits = h;
      if (this.keepHits) scan.hitParts.push(h);
      for (let b = 0; b < res.histogram.length; b++) scan.rec.histogram[b] = (scan.rec.histogram[b] as number) + (res.histogram[b] as number);
      if (this.running) {
        for (let b = 0; b < res.histogram.length; b++) this.histAcc[b] = (this.histAcc[b] as number) + (res.histogram[b] as number);
        const cw = proi.col1 - proi.col0;
        this.cleanAcc ??= new Uint16Array(cw * (proi.row1 - proi.row0));
        for (let k = 0; k < h.count; k++) {
          const r = Math.floor(h.posRow[k] as number) - proi.row0;
          const c = Math.floor(h.posCol[k] as number) - proi.col0;
          const i = r * cw + c;
          this.cleanAcc = addCount(this.cleanAcc, i);
        }
      }
    }

    // 1, 3, 4: correction, accumulation, ROI means; then steps and events
    let hitCursor = 0;
    const roiNames = Object.keys(this.rois);
    for (const [k, f] of frames.entries()) {
      const corr = this.correction(f.type);
      const dark = correctionDark(corr, n, { file: f.source, frame: f.frame });
      this.last = { ev: f, corr };
      const means: Record<string, number> = {};
      const hitsHere = perFrameHits[k] as number;
      for (const name of roiNames) {
        const r = clipRoi(this.rois[name] as Roi, rows, cols, name);
        if (this.roiSource() === 'photons' && batchHits !== null) {
          let c = 0;
          for (let j = hitCursor; j < hitCursor + hitsHere; j++) {
            const pr = Math.floor(batchHits.posRow[j] as number);
            const pc = Math.floor(batchHits.posCol[j] as number);
            if (pr >= r.row0 && pr < r.row1 && pc >= r.col0 && pc < r.col1) c++;
          }
          means[name] = c / roiArea(r);
        } else {
          let s = 0;
          let m = 0;
          for (let row = r.row0; row < r.row1; row++) {
            for (let i = row * cols + r.col0; i < row * cols + r.col1; i++) {
              const v = correctedAt(f.data, i, corr, dark);
              if (v >= 0) {
                s += v;
                m++;
              }
            }
          }
          means[name] = m > 0 ? s / m : NaN;
        }
      }
      hitCursor += hitsHere;
      const idx = scan.rec.frameNumbers.length;
      scan.rec.frameNumbers.push(f.frame);
      scan.rec.eventNumbers.push(f.eventNumber);
      scan.rec.positions.push(NaN);
      scan.rec.maxEnergy.push(perFrameMax[k] as number);
      const bad = nonFinite[k] as number;
      if (bad > 0) {
        scan.rec.nonFinitePixels += bad;
        scan.rec.nonFiniteFrames++;
      }
      for (const name of roiNames) (scan.rec.roiMeans[name] ??= scan.rec.frameNumbers.slice(0, idx).map(() => NaN)).push(means[name] as number);
      scan.pending.push(idx);
      const stepIndex = scan.rec.steps.length;
      this.emit('frame', {
        scan: scan.rec.scan,
        frame: f.frame,
        eventNumber: f.eventNumber,
        shape: [rows, cols],
        hits: hitsHere,
        maxEnergy: perFrameMax[k] as number,
        roiMeans: means,
        accumulatedFrames: this.running ? accBefore + k + 1 : accBefore,
        accumulating: this.running,
        step: stepIndex,
        nonFinitePixels: bad,
      });
      if (this.motor === undefined) this.closeStep(f.frame, undefined);
    }
  }

  /**
   * Photon detection of a batch through the engine's kernel (the GPU path):
   * the frames stacked, non-finite values masked to 0, cropped to the ROI.
   */
  private async detectOnEngine(frames: FrameEvent[], setup: FrameDetectorSetup, proi: Roi, rows: number, cols: number): Promise<BatchDetection> {
    const n = rows * cols;
    const useU16 = frames.every((f) => f.data instanceof Uint16Array || f.data instanceof Uint8Array);
    const stack = useU16 ? new Uint16Array(frames.length * n) : new Float32Array(frames.length * n);
    frames.forEach((f, k) => {
      stack.set(f.data, k * n);
      if (!useU16) maskNonFinite(stack, k * n, n);
    });
    return this.engine.run(photonDetectKernel, { ...setup, frames: cropFrames(stack, cols, rows, proi), clean: false });
  }

  /**
   * The photon detection of a batch, `visit` called once per frame before it
   * is detected (the accumulation): on the CPU the fast detector
   * (bit-identical to the CPU twin) reads each frame's ROI in place, on this
   * thread or on the worker threads (frames transferred there and back); on
   * the GPU the engine's kernel.
   */
  private async detect(frames: FrameEvent[], p: PhotonConfig, proi: Roi, rows: number, cols: number, visit: (f: FrameEvent, data: FrameArray) => void): Promise<BatchDetection> {
    const setup: FrameDetectorSetup = {
      width: proi.col1 - proi.col0,
      height: proi.row1 - proi.row0,
      threshold: p.threshold ?? PHOTON_DEFAULTS.threshold,
      emin: p.emin ?? PHOTON_DEFAULTS.emin,
      mode: p.mode ?? PHOTON_DEFAULTS.mode,
      histogram: this.histSpec(),
    };
    if (this.engine.backend !== 'cpu') {
      const running = this.detectOnEngine(frames, setup, proi, rows, cols);
      running.catch(() => undefined); // awaited below; not unhandled if the accumulation throws first
      for (const f of frames) visit(f, f.data);
      return running;
    }
    const cpu = (this.cpuDetection ??= new CpuPhotonDetection(this.cpuThreads));
    const out = await cpu.detect(
      frames.map((f) => f.data),
      frames.map((f) => f.owned === true),
      setup,
      { offset: proi.row0 * cols + proi.col0, stride: cols },
      (k, data) => visit(frames[k] as FrameEvent, data),
    );
    // the frames come back from the worker threads as new views
    out.frames.forEach((data, k) => ((frames[k] as FrameEvent).data = data));
    return out.detection;
  }

  /** Resolves once the CPU detection's worker threads are up (until then frames are detected on this thread; nothing needs to wait). */
  async threadsStarted(): Promise<void> {
    await this.cpuDetection?.started;
  }

  /** Ends the CPU detection's worker threads, if any (they never keep the process alive; this frees them at once). */
  async close(): Promise<void> {
    const cpu = this.cpuDetection;
    this.cpuDetection = null;
    await cpu?.close();
  }
}

/** Infinity or NaN values in a frame (0 at once for integer frames). */
function countNonFinite(data: FrameArray): number {
  if (!(data instanceof Float32Array || data instanceof Float64Array)) return 0;
  let bad = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i] as number)) bad++;
  return bad;
}

/** Sets the non-finite values of `stack[offset … offset + n)` to 0, so the photon detector finds nothing there. */
function maskNonFinite(stack: Float32Array | Uint16Array, offset: number, n: number): void {
  for (let i = offset; i < offset + n; i++) if (!Number.isFinite(stack[i] as number)) stack[i] = 0;
}
