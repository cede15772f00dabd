/**
 * The viewer's live state: a PhotonSession fed from the sources by a pump,
 * the ROIs, the PONI geometry and q values for ring overlays, the scans' step
 * tables, and what went wrong. The HTTP server (server.ts) only reads views of
 * it and calls its controls; listeners get its events (the server turns them
 * into Server-Sent Events).
 *
 * Every call into the session goes through one queue (`exclusive`), so a ROI
 * change from the page never interleaves with a batch of frames.
 *
 * What is documented rather than an error:
 * - a frame shape change mid-scan resets the accumulation (the session's
 *   'reset' event, reason 'shape'); ROIs that lie wholly outside the new
 *   shape are dropped with a notice, others are clipped when used;
 * - a ROI change resets the open scan's ROI-mean table (steps already closed
 *   keep theirs); moving the ROI named `photon` (the photon-detection ROI)
 *   resets the accumulation;
 * - a source that fails mid-stream (a truncated recording, a garbled frame)
 *   stops the pump with state 'error' and the message in the status; the
 *   server keeps serving what was accumulated, and 'replay' or a new source
 *   starts over.
 */
import { statSync } from 'node:fs';
import { InvalidValueError } from '../errors.ts';
import type { Engine } from '../host/engine.ts';
import { energyToWavelength, type PoniGeometry } from '../io/poni.ts';
import { PHOTON_DEFAULTS } from '../kernels/photon-detect.ts';
import { clipRoi, parseRoisJson, type Roi } from '../photon/roi.ts';
import {
  PhotonSession,
  type Correction,
  type FrameSummary,
  type IntegrationResult,
  type PhotonConfig,
  type ResetEvent,
  type ScanStartEvent,
  type StepResult,
  type StepStat,
} from '../photon/session.ts';
import { mergeEvents, openSource, zmqPullEvents, type FrameEvent, type SourceEvent } from '../photon/sources.ts';
import { log } from '../util/log.ts';
import { accumulatedRoiMeans, imagePayload, type ImageKind, type ImagePayload, type RoiMean } from './image.ts';
import { isPlainObject } from './http.ts';

/** Opens the events to show (tests and embedding programs pass their own). */
export type OpenEvents = (signal: AbortSignal) => AsyncIterable<SourceEvent>;

export interface LiveOptions {
  engine: Engine;
  /** the sources as the user named them: `.cbors[.gz]` recordings, `FILE.h5[:/dataset]`, `tcp://…`; several are merged by event number */
  sources: readonly string[];
  /** replaces opening `sources` (a label for them still goes in `sources`) */
  open?: OpenEvents;
  /** photon detection; null = off; default: on with the engine defaults */
  photon?: PhotonConfig | null;
  /** image correction (default 'auto': CMOS dark 100 / zero below 12 for 8- and 16-bit frames, none otherwise) */
  correction?: Correction | 'auto';
  roiSource?: 'image' | 'photons';
  rois?: Record<string, Roi>;
  poni?: PoniGeometry | null;
  /** q values (Å⁻¹) of the rings to draw */
  q?: readonly number[];
  /** radial bins of the integration (default 1000) */
  bins?: number;
  /** replay at most this many frames per second; 0 (default) = as fast as they come */
  fps?: number;
  /** start the sources again when they end (recordings) */
  loop?: boolean;
  /** frames per photon-detect batch (default 1: every frame shows at once) */
  batchSize?: number;
  /** start with accumulation running (default true) */
  accumulate?: boolean;
  /** least time between two 'status' events (default 100 ms) */
  statusIntervalMs?: number;
}

export type PumpState = 'starting' | 'running' | 'done' | 'error';

export interface Notice {
  at: string;
  level: 'info' | 'warn';
  message: string;
}

export interface StepView {
  step: number;
  x: number;
  axis: string;
  pointNb?: number;
  /** frames in the step */
  frames: number;
  firstFrame: number;
  lastFrame: number;
  means: Record<string, StepStat>;
}

export interface ScanView {
  /** running number within this viewer's run (restarts with replay) */
  id: number;
  /** the session's scan number */
  scan: number;
  stream: string;
  filename?: string;
  axis: string;
  frames: number;
  open: boolean;
  steps: StepView[];
}

export interface RoiState {
  version: number;
  /** the mean ROIs, and `photon` when a photon-detection ROI is set */
  rois: Record<string, Roi>;
  /** means over the accumulation (the `photon` ROI has none) */
  means: Record<string, RoiMean>;
  source: 'image' | 'photons';
}

export interface GeometryState {
  version: number;
  poni: PoniGeometry | null;
  q: number[];
  /** values to start the form with when no geometry is set */
  defaults: PoniGeometry;
}

export interface ViewerStatus {
  state: PumpState;
  sources: string[];
  /** bumped by every replay or source change */
  run: number;
  passes: number;
  framesSeen: number;
  accumulatedFrames: number;
  accumulating: boolean;
  shape: [number, number] | null;
  lastFrame: { scan: number; frame: number; eventNumber: number; hits: number; maxEnergy: number; roiMeans: Record<string, number> } | null;
  /** frames per second over the last frames */
  rate: number;
  /** bumped whenever the images change */
  imageVersion: number;
  histogramVersion: number;
  roiVersion: number;
  geometryVersion: number;
  stepsVersion: number;
  roiMeans: Record<string, RoiMean>;
  roiSource: 'image' | 'photons';
  photon: { enabled: boolean; roi: Roi | null; threshold: number; emin: number; mode: string };
  backend: 'gpu' | 'cpu';
  device: string;
  error: { message: string; at: string } | null;
  lastReset: (ResetEvent & { at: string }) | null;
  notices: Notice[];
}

export type LiveEventName = 'status' | 'step' | 'reset' | 'rois' | 'geometry' | 'scan-start' | 'scan-end' | 'error' | 'notice';
export type LiveListener = (name: LiveEventName, payload: unknown) => void;

const MAX_SCANS = 50;
const MAX_NOTICES = 20;
const MAX_ROIS = 32;
const MAX_Q = 64;

/**
 * Checks that a source names something that can be opened: a ZeroMQ endpoint,
 * or an existing file (`FILE.h5:/dataset` names FILE.h5). InvalidValueError otherwise.
 */
export function checkSourceSpec(spec: string): void {
  if (typeof spec !== 'string' || spec.trim() === '') throw new InvalidValueError('unknown source: the name is empty', { field: 'source' });
  const path = sourceSpecFile(spec);
  if (path === null) return;
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new InvalidValueError('unknown source: no such file (expected a .cbors[.gz] recording, FILE.h5[:/dataset] or tcp://host:port)', { file: spec });
  }
  if (!isFile) throw new InvalidValueError('unknown source: not a file', { file: spec });
}

/** The file a source spec reads (`FILE.h5:/dataset` → `FILE.h5`), or null for a ZeroMQ endpoint. */
export function sourceSpecFile(spec: string): string | null {
  if (/^(tcp|ipc|inproc):\/\//.test(spec)) return null;
  const m = /^(.*\.(?:h5|hdf5|nxs))(?::(\/.*))?$/i.exec(spec);
  return m !== null ? (m[1] as string) : spec;
}

/** Opens named sources; a ZeroMQ endpoint stops when `signal` aborts. */
export function openSpecs(specs: readonly string[], signal: AbortSignal): AsyncIterable<SourceEvent> {
  const its = specs.map((s) => (/^(tcp|ipc|inproc):\/\//.test(s) ? zmqPullEvents(s, { signal }) : openSource(s)));
  if (its.length === 1) return its[0] as AsyncIterable<SourceEvent>;
  return mergeEvents(...its);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolvePromise) => {
    if (signal.aborted || ms <= 0) {
      resolvePromise();
      return;
    }
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolvePromise();
    }
    signal.addEventListener('abort', done);
  });
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

function intersects(r: Roi, rows: number, cols: number): boolean {
  return Math.min(rows, r.row1) > Math.max(0, r.row0) && Math.min(cols, r.col1) > Math.max(0, r.col0);
}

function guessPixelSize(label: string): number {
  if (/pilatus/i.test(label)) return 172e-6;
  if (/eiger/i.test(label)) return 75e-6;
  return 100e-6;
}

export class LiveView {
  readonly engine: Engine;
  private sources: string[];
  private open: OpenEvents | undefined;
  private photonCfg: PhotonConfig | null;
  private readonly correction: Correction | 'auto';
  private readonly roiSourceCfg: 'image' | 'photons' | undefined;
  private rois: Record<string, Roi>;
  private poni: PoniGeometry | null;
  private q: number[];
  private readonly bins: number;
  private readonly fps: number;
  private readonly loop: boolean;
  private readonly batchSize: number;
  private accumulate: boolean;
  private readonly statusIntervalMs: number;

  private session: PhotonSession;
  private chain: Promise<void> = Promise.resolve();
  private run = 0;
  private controller = new AbortController();
  private pumpDone: Promise<void> = Promise.resolve();
  private closed = false;

  private state: PumpState = 'starting';
  private passes = 0;
  private framesSeen = 0;
  private frameTimes: number[] = [];
  private lastFrame: ViewerStatus['lastFrame'] = null;
  private lastShape: [number, number] | null = null;
  private headerInfo: Record<string, unknown> = {};
  private streamLabel = '';
  private error: ViewerStatus['error'] = null;
  private lastReset: ViewerStatus['lastReset'] = null;
  private notices: Notice[] = [];
  private scans: ScanView[] = [];
  private scanIds = 0;

  private imageVersion = 0;
  private histogramVersion = 0;
  private roiVersion = 0;
  private geometryVersion = 0;
  private stepsVersion = 0;
  private imageCache = new Map<ImageKind, { version: number; payload: ImagePayload | null }>();
  private ringCache: { key: string; overlay: Uint8Array | null } | null = null;

  private readonly listeners = new Set<LiveListener>();
  private statusTimer: NodeJS.Timeout | null = null;

  constructor(opts: LiveOptions) {
    this.engine = opts.engine;
    if (opts.sources.length === 0 && opts.open === undefined) throw new InvalidValueError('the viewer needs a source', { field: 'source' });
    this.sources = [...opts.sources];
    this.open = opts.open;
    this.photonCfg = opts.photon === undefined ? {} : opts.photon;
    this.correction = opts.correction ?? 'auto';
    this.roiSourceCfg = opts.roiSource;
    this.rois = { ...(opts.rois ?? {}) };
    if (this.rois.photon !== undefined) {
      if (this.photonCfg === null) throw new InvalidValueError("a ROI named 'photon' sets the photon-detection ROI, but photon detection is off", { field: 'photon' });
      this.photonCfg = { ...this.photonCfg, roi: this.rois.photon };
      delete this.rois.photon;
    }
    this.poni = opts.poni ?? null;
    this.q = checkQ(opts.q ?? []);
    this.bins = opts.bins ?? 1000;
    this.fps = opts.fps ?? 0;
    if (!(this.fps >= 0)) throw new InvalidValueError(`frames per second must be ≥ 0, got ${this.fps}`, { field: 'fps' });
    this.loop = opts.loop ?? false;
    this.batchSize = opts.batchSize ?? 1;
    this.accumulate = opts.accumulate ?? true;
    this.statusIntervalMs = opts.statusIntervalMs ?? 100;
    this.session = this.createSession();
  }

  // ---- lifecycle ----

  /** Starts consuming the sources. */
  start(): void {
    this.startPump();
  }

  /** Stops the pump (the session keeps what it has) and the timers. */
  async close(): Promise<void> {
    this.closed = true;
    this.run++;
    this.controller.abort();
    if (this.statusTimer !== null) clearTimeout(this.statusTimer);
    this.statusTimer = null;
    this.listeners.clear();
    await Promise.race([this.pumpDone, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  onEvent(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts the sources again from the beginning (or switches to `specs`), with a fresh accumulation and step tables. */
  async restart(specs?: readonly string[]): Promise<void> {
    if (specs !== undefined) {
      if (specs.length === 0) throw new InvalidValueError('no source given', { field: 'source' });
      for (const s of specs) checkSourceSpec(s);
    }
    this.run++;
    this.controller.abort();
    if (specs !== undefined) {
      this.sources = [...specs];
      this.open = undefined;
    }
    await this.exclusive(async () => {
      this.session = this.createSession();
      this.framesSeen = 0;
      this.frameTimes = [];
      this.passes = 0;
      this.lastFrame = null;
      this.lastShape = null;
      this.error = null;
      this.lastReset = null;
      this.scans = [];
      this.imageCache.clear();
      this.ringCache = null;
      this.imageVersion++;
      this.histogramVersion++;
      this.stepsVersion++;
    });
    this.notice('info', specs !== undefined ? `source: ${this.sources.join(', ')}` : `replaying ${this.sources.join(', ')}`);
    this.startPump();
  }

  // ---- controls ----

  async setAccumulating(on: boolean): Promise<void> {
    await this.exclusive(async () => {
      this.accumulate = on;
      if (on) await this.session.start();
      else await this.session.stop();
    });
    this.touch();
  }

  async resetAccumulation(): Promise<void> {
    await this.exclusive(() => this.session.reset());
  }

  /**
   * Replaces the ROIs from JSON text (any spelling `parseRoisJson` takes). ROIs
   * are clipped to the frame; one wholly outside it is an InvalidValueError.
   */
  async setRoisJson(text: string): Promise<RoiState> {
    const parsed = parseRoisJson(text);
    const names = Object.keys(parsed);
    if (names.length > MAX_ROIS) throw new InvalidValueError(`at most ${MAX_ROIS} ROIs, got ${names.length}`, { field: 'rois' });
    for (const n of names) if (n.length === 0 || n.length > 64) throw new InvalidValueError(`ROI names must be 1–64 characters, got '${n}'`, { field: 'rois' });
    const shape = this.lastShape;
    const clipped: Record<string, Roi> = {};
    for (const [name, r] of Object.entries(parsed)) clipped[name] = shape === null ? r : clipRoi(r, shape[0], shape[1], name);
    const { photon, ...rest } = clipped;
    await this.exclusive(async () => {
      const cfg = this.photonCfg;
      if (photon !== undefined && cfg === null) throw new InvalidValueError("a ROI named 'photon' sets the photon-detection ROI, but photon detection is off", { field: 'photon' });
      await this.session.setRois(rest);
      // the last frame's means belong to the ROIs as they were
      const last = this.lastFrame;
      if (last !== null) for (const n of Object.keys(last.roiMeans)) if (!sameRoi(this.rois[n], rest[n])) delete last.roiMeans[n];
      this.rois = rest;
      if (cfg !== null && !sameRoi(cfg.roi, photon)) {
        const next: PhotonConfig = { ...cfg };
        if (photon !== undefined) next.roi = photon;
        else delete next.roi;
        this.photonCfg = next;
        await this.session.setPhoton(next);
        this.notice('info', photon !== undefined ? `photon ROI set to rows ${photon.row0}:${photon.row1}, cols ${photon.col0}:${photon.col1}: accumulation reset` : 'photon ROI removed (whole frame): accumulation reset');
      }
    });
    this.roiVersion++;
    const st = this.roiState();
    this.emit('rois', st);
    this.touch();
    return st;
  }

  /** Sets (or with `poni: null` clears) the PONI geometry and the ring q values. */
  async setGeometry(body: unknown): Promise<GeometryState> {
    if (!isPlainObject(body)) throw new InvalidValueError('geometry: expected a JSON object {poni, q}', { field: 'geometry' });
    const poni = body.poni === undefined ? this.poni : body.poni === null ? null : parsePoniBody(body.poni, this.geometryDefaults());
    const q = body.q === undefined ? this.q : checkQ(body.q);
    await this.exclusive(async () => {
      this.poni = poni;
      this.q = q;
      this.session.setIntegration(poni === null ? null : { poni, bins: this.bins });
      this.ringCache = null;
    });
    this.geometryVersion++;
    const st = this.geometryState();
    this.emit('geometry', st);
    this.touch();
    return st;
  }

  /** Integrates the accumulated image over the PONI geometry. */
  integrate(): Promise<IntegrationResult> {
    return this.exclusive(() => this.session.integrate());
  }

  // ---- views ----

  status(): ViewerStatus {
    const s = this.session;
    const p = this.photonCfg;
    const now = Date.now();
    const recent = this.frameTimes.filter((t) => now - t < 3000);
    const span = recent.length > 1 ? ((recent[recent.length - 1] as number) - (recent[0] as number)) / 1000 : 0;
    return {
      state: this.state,
      sources: [...this.sources],
      run: this.run,
      passes: this.passes,
      framesSeen: this.framesSeen,
      accumulatedFrames: s.accumulatedFrames,
      accumulating: s.accumulating,
      shape: s.frameShape,
      lastFrame: this.lastFrame,
      rate: this.state === 'running' && span > 0 ? (recent.length - 1) / span : 0,
      imageVersion: this.imageVersion,
      histogramVersion: this.histogramVersion,
      roiVersion: this.roiVersion,
      geometryVersion: this.geometryVersion,
      stepsVersion: this.stepsVersion,
      roiMeans: accumulatedRoiMeans(s, this.rois, this.roiSource()),
      roiSource: this.roiSource(),
      photon: {
        enabled: p !== null,
        roi: s.currentPhotonRoi ?? p?.roi ?? null,
        threshold: p?.threshold ?? PHOTON_DEFAULTS.threshold,
        emin: p?.emin ?? PHOTON_DEFAULTS.emin,
        mode: p?.mode ?? PHOTON_DEFAULTS.mode,
      },
      backend: this.engine.backend,
      device: this.engine.deviceName,
      error: this.error,
      lastReset: this.lastReset,
      notices: [...this.notices],
    };
  }

  roiState(): RoiState {
    const rois: Record<string, Roi> = { ...this.rois };
    if (this.photonCfg?.roi !== undefined) rois.photon = this.photonCfg.roi;
    return { version: this.roiVersion, rois, means: accumulatedRoiMeans(this.session, this.rois, this.roiSource()), source: this.roiSource() };
  }

  geometryState(): GeometryState {
    return { version: this.geometryVersion, poni: this.poni, q: [...this.q], defaults: this.geometryDefaults() };
  }

  steps(): { version: number; scans: ScanView[] } {
    return { version: this.stepsVersion, scans: this.scans };
  }

  histogram(): { version: number; enabled: boolean; edges: number[]; counts: number[]; total: number } {
    const h = this.session.histogram();
    const counts = Array.from(h.counts);
    return { version: this.histogramVersion, enabled: this.photonCfg !== null, edges: Array.from(h.edges), counts, total: counts.reduce((a, b) => a + b, 0) };
  }

  /** The image of `kind` for the current image version (cached per version). */
  image(kind: ImageKind): { version: number; payload: ImagePayload | null } {
    const c = this.imageCache.get(kind);
    if (c !== undefined && c.version === this.imageVersion) return c;
    const entry = { version: this.imageVersion, payload: imagePayload(this.session, kind) };
    this.imageCache.set(kind, entry);
    return entry;
  }

  /** Per pixel of the frame: ring index + 1 where a q ring passes, else 0; null without geometry or frames. */
  rings(): { version: number; shape: [number, number]; overlay: Uint8Array } | null {
    const shape = this.session.frameShape;
    if (this.poni === null || shape === null || this.q.length === 0) return null;
    const key = `${this.geometryVersion}:${shape[0]}x${shape[1]}`;
    if (this.ringCache === null || this.ringCache.key !== key) this.ringCache = { key, overlay: this.session.ringOverlay(this.q) };
    const overlay = this.ringCache.overlay;
    return overlay === null ? null : { version: this.geometryVersion, shape, overlay };
  }

  // ---- internals ----

  private roiSource(): 'image' | 'photons' {
    return this.roiSourceCfg ?? (this.photonCfg !== null ? 'photons' : 'image');
  }

  private geometryDefaults(): PoniGeometry {
    const shape = this.lastShape ?? [1000, 1000];
    const pixel = this.poni?.pixel1 ?? guessPixelSize(`${this.streamLabel} ${this.sources.join(' ')}`);
    const pixel2 = this.poni?.pixel2 ?? pixel;
    const energy = this.headerInfo.energy;
    const wavelength = this.poni?.wavelength ?? (typeof energy === 'number' && energy > 0 ? energyToWavelength(energy) : 1e-10);
    return {
      dist: this.poni?.dist ?? 0.1,
      poni1: this.poni?.poni1 ?? (shape[0] * pixel) / 2,
      poni2: this.poni?.poni2 ?? (shape[1] * pixel2) / 2,
      rot1: this.poni?.rot1 ?? 0,
      rot2: this.poni?.rot2 ?? 0,
      rot3: this.poni?.rot3 ?? 0,
      wavelength,
      pixel1: pixel,
      pixel2,
      detector: this.poni?.detector ?? (this.streamLabel || 'Detector'),
    };
  }

  private createSession(): PhotonSession {
    const s = new PhotonSession({
      engine: this.engine,
      photon: this.photonCfg,
      correction: this.correction,
      rois: this.rois,
      ...(this.roiSourceCfg !== undefined ? { roiSource: this.roiSourceCfg } : {}),
      integration: this.poni === null ? null : { poni: this.poni, bins: this.bins },
      batchSize: this.batchSize,
      onShapeChange: 'reset',
      keepHits: false,
    });
    s.on('frame', (f) => this.onFrame(s, f));
    s.on('step', (st) => this.onStep(s, st));
    s.on('reset', (r) => this.onReset(s, r));
    s.on('accumulation', () => this.touch());
    s.on('scan-start', (e) => this.onScanStart(s, e));
    s.on('scan-end', (r) => {
      if (s !== this.session) return;
      const v = this.scans.find((x) => x.scan === r.scan && x.open);
      if (v !== undefined) v.open = false;
      this.stepsVersion++;
      this.emit('scan-end', { scan: r.scan, frames: r.frameNumbers.length, steps: r.steps.length });
      this.touch();
    });
    return s;
  }

  private onFrame(s: PhotonSession, f: FrameSummary): void {
    if (s !== this.session) return;
    this.framesSeen++;
    const now = Date.now();
    this.frameTimes.push(now);
    if (this.frameTimes.length > 50) this.frameTimes.shift();
    this.lastFrame = { scan: f.scan, frame: f.frame, eventNumber: f.eventNumber, hits: f.hits, maxEnergy: f.maxEnergy, roiMeans: { ...f.roiMeans } };
    this.imageVersion++;
    if (f.accumulating && this.photonCfg !== null) this.histogramVersion++;
    const scan = this.openScanView(f.scan);
    if (scan !== undefined) scan.frames++;
    this.touch();
  }

  private onStep(s: PhotonSession, st: StepResult): void {
    if (s !== this.session) return;
    const scan = this.openScanView(st.scan);
    const frames = st.frames;
    const v: StepView = { step: st.step, x: st.x, axis: st.axis, frames: frames.length, firstFrame: frames[0] ?? -1, lastFrame: frames[frames.length - 1] ?? -1, means: st.means };
    if (st.pointNb !== undefined) v.pointNb = st.pointNb;
    if (scan !== undefined) {
      scan.axis = st.axis;
      scan.steps.push(v);
    }
    this.stepsVersion++;
    this.emit('step', { scanId: scan?.id ?? -1, scan: st.scan, ...v });
  }

  private onReset(s: PhotonSession, r: ResetEvent): void {
    if (s !== this.session) return;
    this.lastReset = { ...r, at: new Date().toISOString() };
    this.imageVersion++;
    this.histogramVersion++;
    if (r.reason === 'shape' && r.from !== undefined && r.to !== undefined) {
      this.notice('warn', `frame shape changed from ${r.from[0]}×${r.from[1]} to ${r.to[0]}×${r.to[1]}: accumulation reset`);
    }
    this.emit('reset', this.lastReset);
    this.touch();
  }

  private onScanStart(s: PhotonSession, e: ScanStartEvent): void {
    if (s !== this.session) return;
    this.headerInfo = e.info;
    this.streamLabel = e.stream;
    const v: ScanView = { id: this.scanIds++, scan: e.scan, stream: e.stream, axis: 'frame', frames: 0, open: true, steps: [] };
    if (e.filename !== undefined) v.filename = e.filename;
    this.scans.push(v);
    if (this.scans.length > MAX_SCANS) this.scans.shift();
    this.stepsVersion++;
    this.emit('scan-start', { id: v.id, scan: e.scan, stream: e.stream, filename: e.filename ?? null });
  }

  private openScanView(scan: number): ScanView | undefined {
    for (let k = this.scans.length - 1; k >= 0; k--) {
      const v = this.scans[k] as ScanView;
      if (v.scan === scan) return v;
    }
    return undefined;
  }

  private notice(level: Notice['level'], message: string): void {
    const n: Notice = { at: new Date().toISOString(), level, message };
    this.notices.push(n);
    if (this.notices.length > MAX_NOTICES) this.notices.shift();
    this.emit('notice', n);
    this.touch();
  }

  private emit(name: LiveEventName, payload: unknown): void {
    for (const l of this.listeners) {
      try {
        l(name, payload);
      } catch (err) {
        log('warn', `viewer: event listener failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Schedules a 'status' event (at most one per statusIntervalMs). */
  private touch(): void {
    if (this.statusTimer !== null || this.closed) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      this.emit('status', this.status());
    }, this.statusIntervalMs);
  }

  /** Runs `fn` after every call queued before it; a failure does not block the queue. */
  private exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.chain.then(fn);
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private startPump(): void {
    const run = this.run;
    this.controller = new AbortController();
    const signal = this.controller.signal;
    this.state = 'starting';
    this.pumpDone = this.pump(run, signal);
    this.touch();
  }

  private async pump(run: number, signal: AbortSignal): Promise<void> {
    const live = (): boolean => run === this.run && !signal.aborted;
    const session = this.session;
    const minGap = this.fps > 0 ? 1000 / this.fps : 0;
    let lastFrameAt = 0;
    try {
      // a fresh session accumulates; carry a stop over (--stopped, or stopped before a replay)
      if (!this.accumulate) await this.exclusive(() => session.stop());
      do {
        const events = this.open !== undefined ? this.open(signal) : openSpecs(this.sources, signal);
        for await (const ev of events) {
          if (!live()) return;
          if (this.state !== 'running') {
            this.state = 'running';
            this.touch();
          }
          if (ev.kind === 'frame') {
            if (minGap > 0) {
              await sleep(lastFrameAt + minGap - Date.now(), signal);
              if (!live()) return;
              lastFrameAt = Date.now();
            }
            await this.exclusive(() => this.fitRoisToShape(session, ev));
          }
          await this.exclusive(() => session.handle(ev));
          await nextTurn();
        }
        if (!live()) return;
        await this.exclusive(() => session.finish());
        this.passes++;
      } while (this.loop && live());
      if (!live()) return;
      this.state = 'done';
      this.notice('info', `source ended after ${this.framesSeen} frames`);
    } catch (err) {
      if (!live()) return;
      const message = err instanceof Error ? err.message : String(err);
      this.state = 'error';
      this.error = { message, at: new Date().toISOString() };
      log('warn', `viewer: the source stopped: ${message}`);
      this.emit('error', this.error);
      this.touch();
    }
  }

  /** Before a frame of a new shape: drops the ROIs that lie wholly outside it, with a notice. */
  private async fitRoisToShape(session: PhotonSession, ev: FrameEvent): Promise<void> {
    const [rows, cols] = ev.shape;
    const prev = this.lastShape;
    if (prev !== null && prev[0] === rows && prev[1] === cols) return;
    this.lastShape = [rows, cols];
    if (session !== this.session) return;
    const outside = Object.keys(this.rois).filter((n) => !intersects(this.rois[n] as Roi, rows, cols));
    if (outside.length > 0) {
      const kept = Object.fromEntries(Object.entries(this.rois).filter(([n]) => !outside.includes(n)));
      await session.setRois(kept);
      this.rois = kept;
      this.roiVersion++;
      this.notice('warn', `ROI ${outside.map((n) => `'${n}'`).join(', ')} lies outside the ${rows}×${cols} frame: removed`);
      this.emit('rois', this.roiState());
    }
    const p = this.photonCfg;
    if (p !== null && p.roi !== undefined && !intersects(p.roi, rows, cols)) {
      const next: PhotonConfig = { ...p };
      delete next.roi;
      this.photonCfg = next;
      await session.setPhoton(next);
      this.roiVersion++;
      this.notice('warn', `the photon ROI lies outside the ${rows}×${cols} frame: photon detection now covers the whole frame`);
      this.emit('rois', this.roiState());
    }
  }
}

function sameRoi(a: Roi | undefined, b: Roi | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.row0 === b.row0 && a.row1 === b.row1 && a.col0 === b.col0 && a.col1 === b.col1;
}

function checkQ(v: unknown): number[] {
  if (!Array.isArray(v)) throw new InvalidValueError('q must be a list of numbers (Å⁻¹)', { field: 'q' });
  if (v.length > MAX_Q) throw new InvalidValueError(`at most ${MAX_Q} q values, got ${v.length}`, { field: 'q' });
  return v.map((x, k) => {
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new InvalidValueError(`q[${k}] must be a positive number (Å⁻¹), got ${JSON.stringify(x)}`, { field: 'q' });
    return x;
  });
}

const PONI_FIELDS = ['dist', 'poni1', 'poni2', 'rot1', 'rot2', 'rot3', 'wavelength', 'pixel1', 'pixel2'] as const;

/** A PONI geometry from the page (SI units: m and rad); absent fields come from `defaults`. */
export function parsePoniBody(v: unknown, defaults: PoniGeometry): PoniGeometry {
  if (!isPlainObject(v)) throw new InvalidValueError('poni must be an object {dist, poni1, poni2, rot1, rot2, rot3, wavelength, pixel1, pixel2}', { field: 'poni' });
  const g: PoniGeometry = { ...defaults };
  for (const k of PONI_FIELDS) {
    const x = v[k];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new InvalidValueError(`poni.${k} must be a finite number, got ${JSON.stringify(x)}`, { field: `poni.${k}` });
    g[k] = x;
  }
  if (typeof v.detector === 'string') g.detector = v.detector.slice(0, 100);
  if (!(g.dist > 0)) throw new InvalidValueError(`poni.dist must be positive (m), got ${g.dist}`, { field: 'poni.dist' });
  if (!(g.wavelength > 0 && g.wavelength < 1e-8)) throw new InvalidValueError(`poni.wavelength must be in metres, between 0 and 1e-8, got ${g.wavelength}`, { field: 'poni.wavelength' });
  if (!(g.pixel1 > 0 && g.pixel2 > 0)) throw new InvalidValueError('poni.pixel1 and poni.pixel2 must be positive (m)', { field: 'poni.pixel1' });
  return g;
}
