// diffract live viewer: the page. Plain ES module, no dependencies, no
// external fetches: everything comes from the server that served this file
// (see src/viewer/server.ts for the API).
//
// Updates arrive as Server-Sent Events (/api/events); the image itself is
// fetched as Float32 (/api/image) only when its version changed, at most once
// per `imageIntervalMs`, and never two at a time.

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const SVG_NS = 'http://www.w3.org/2000/svg';

// ---------------------------------------------------------------- state

const state = {
  config: { imageIntervalMs: 400 },
  status: null,
  /** @type {{rows:number, cols:number, row0:number, col0:number, frames:number, version:number, kind:string, data:Float32Array} | null} */
  image: null,
  /** @type {{rows:number, cols:number, version:number, data:Uint8Array} | null} */
  rings: null,
  /** name → {row0,row1,col0,col1} */
  rois: {},
  roiMeans: {},
  roiSource: 'image',
  geometry: null,
  scans: [],
  /** the scan picked in the select, or null = follow the latest */
  pickedScan: null,
  histogram: null,
  view: { scale: 1, x: 0, y: 0, fitted: true, shapeKey: '' },
  selected: null,
  drawMode: false,
  drag: null,
  lastError: '',
  dismissedError: '',
};

const ROI_COLORS = ['#ffd166', '#06d6a0', '#ef476f', '#4cc9f0', '#f78c6b', '#b388ff', '#c5e063', '#ff9ecd'];
const RING_COLORS = [[255, 80, 80], [80, 220, 255], [120, 255, 120], [255, 200, 60], [220, 120, 255], [255, 255, 255]];

function roiColor(name) {
  if (name === 'photon') return '#ffffff';
  const names = Object.keys(state.rois).filter((n) => n !== 'photon');
  const k = names.indexOf(name);
  return ROI_COLORS[(k < 0 ? 0 : k) % ROI_COLORS.length];
}

// ---------------------------------------------------------------- helpers

function fmt(v, digits = 4) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

function showError(message) {
  state.lastError = message;
  $('error-text').textContent = message;
  $('error-banner').hidden = false;
}

function clearError() {
  state.lastError = '';
  $('error-banner').hidden = true;
}

async function api(path, body) {
  const init = body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) };
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`;
    throw new Error(msg);
  }
  return data;
}

async function act(what, fn) {
  try {
    const r = await fn();
    return r;
  } catch (err) {
    showError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

function svgEl(tag, attrs = {}, parent) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

// ---------------------------------------------------------------- status

let lastRun = -1;

function applyStatus(s) {
  if (lastRun !== -1 && s.run !== lastRun) {
    // a replay or a new source: the server started its step tables afresh
    state.scans = [];
    state.pickedScan = null;
    imageFetch.shown = -1;
    void api('/api/steps').then((st) => {
      state.scans = st.scans;
      drawSteps();
    }).catch(() => undefined);
  }
  lastRun = s.run;
  state.status = s;
  const st = $('state');
  st.textContent = s.state;
  st.className = `pill ${s.state}`;
  const acc = $('accum-state');
  acc.textContent = s.accumulating ? 'accumulating' : 'stopped';
  acc.className = `pill ${s.accumulating ? 'on' : 'off'}`;
  $('btn-start').disabled = s.accumulating;
  $('btn-stop').disabled = !s.accumulating;
  $('frames-seen').textContent = String(s.framesSeen);
  $('acc-frames').textContent = String(s.accumulatedFrames);
  $('last-frame').textContent = s.lastFrame ? `#${s.lastFrame.frame}${s.photon.enabled ? ` · ${s.lastFrame.hits} hits` : ''}` : '–';
  $('rate').textContent = s.rate > 0 ? `${s.rate.toFixed(1)}/s` : '–';
  $('backend').textContent = s.backend === 'gpu' ? `GPU (${s.device})` : 'CPU';
  state.roiMeans = s.roiMeans;
  state.roiSource = s.roiSource;
  if (s.error) {
    const m = `source: ${s.error.message}`;
    if (m !== state.lastError && m !== state.dismissedError) showError(m);
  }
  if (s.lastReset && s.lastReset.reason === 'shape') {
    $('notice-text').textContent = `Accumulation reset at ${new Date(s.lastReset.at).toLocaleTimeString()}: the frame shape changed from ${s.lastReset.from.join('×')} to ${s.lastReset.to.join('×')}.`;
    $('notice-banner').hidden = false;
  } else {
    $('notice-banner').hidden = true;
  }
  renderNotices(s.notices);
  if (!$('source-input').value && document.activeElement !== $('source-input')) $('source-input').value = s.sources.join(', ');
  updateRoiTable();
  wantImage(s.imageVersion);
  wantHistogram(s.histogramVersion);
  if (state.geometry && state.geometry.poni) wantIntegration(s.imageVersion);
  if (s.shape && state.geometry && state.geometry.poni) void wantRings(`${s.geometryVersion}:${s.shape.join('x')}`);
}

function renderNotices(list) {
  const ul = $('notices');
  const key = list.map((n) => n.at + n.message).join('|');
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.textContent = '';
  for (const n of list.slice(-8).reverse()) {
    const li = document.createElement('li');
    li.className = n.level;
    li.textContent = `${new Date(n.at).toLocaleTimeString()} ${n.message}`;
    ul.appendChild(li);
  }
}

// ---------------------------------------------------------------- image fetch

const imageFetch = { wanted: -1, shown: -1, shownKind: '', busy: false, timer: 0, last: 0, kind: 'sum' };

function wantImage(version) {
  imageFetch.wanted = Math.max(imageFetch.wanted, version);
  scheduleImage();
}

function scheduleImage() {
  if (imageFetch.busy || imageFetch.timer) return;
  if (imageFetch.shown >= imageFetch.wanted && imageFetch.shownKind === imageFetch.kind) return;
  const wait = Math.max(0, imageFetch.last + state.config.imageIntervalMs - performance.now());
  imageFetch.timer = setTimeout(fetchImage, wait);
}

async function fetchImage() {
  imageFetch.timer = 0;
  imageFetch.busy = true;
  imageFetch.last = performance.now();
  const kind = imageFetch.kind;
  try {
    const res = await fetch(`/api/image?kind=${kind}`);
    const version = Number(res.headers.get('X-Diffract-Version'));
    imageFetch.shown = Number.isFinite(version) ? version : imageFetch.wanted;
    imageFetch.shownKind = kind;
    if (res.status === 204) {
      state.image = null;
      $('image-empty').hidden = false;
      $('image-empty').textContent = kind === 'clean' ? 'no photon image (photon detection off, or nothing accumulated)' : 'waiting for frames…';
      renderImage();
    } else if (!res.ok) {
      const body = await res.json().catch(() => ({ error: res.statusText }));
      showError(`image: ${body.error}`);
    } else {
      const buf = await res.arrayBuffer();
      const h = (k) => Number(res.headers.get(`X-Diffract-${k}`));
      const rows = h('Rows');
      const cols = h('Cols');
      const data = new Float32Array(buf);
      if (data.length !== rows * cols) throw new Error(`image: ${data.length} values for ${rows}×${cols}`);
      state.image = { rows, cols, row0: h('Row0'), col0: h('Col0'), frames: h('Frames'), version, kind, data };
      $('image-empty').hidden = true;
      // follow the frame while the user has not zoomed or panned, and after a shape change
      const key = `${frameRows()}x${frameCols()}`;
      if (state.view.fitted || state.view.shapeKey !== key) {
        fitView();
        state.view.shapeKey = key;
      }
      computeLimits();
      renderImage();
      document.body.dataset.imageVersion = String(version);
      document.body.dataset.renderedFrames = String(state.image.frames);
    }
  } catch (err) {
    showError(`image: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    imageFetch.busy = false;
    scheduleImage();
  }
}

const ringFetch = { busy: false, key: '' };
/** Fetches the ring overlay once per (geometry version, frame shape). */
async function wantRings(key) {
  if (ringFetch.busy || ringFetch.key === key) return;
  ringFetch.busy = true;
  ringFetch.key = key;
  try {
    const res = await fetch('/api/rings');
    if (res.status === 204 || !res.ok) {
      state.rings = null;
    } else {
      const data = new Uint8Array(await res.arrayBuffer());
      state.rings = { rows: Number(res.headers.get('X-Diffract-Rows')), cols: Number(res.headers.get('X-Diffract-Cols')), version: Number(res.headers.get('X-Diffract-Version')), data };
    }
    renderImage();
  } catch (err) {
    ringFetch.key = '';
    showError(`rings: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    ringFetch.busy = false;
  }
}

// ---------------------------------------------------------------- colour

/** 256-entry colour table from a few anchor colours (dark → purple → orange → pale yellow). */
const LUT = (() => {
  const anchors = [[0, 0, 4], [45, 12, 92], [110, 24, 110], [170, 48, 90], [222, 86, 52], [248, 148, 30], [248, 212, 70], [252, 252, 190]];
  const out = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (anchors.length - 1);
    const k = Math.min(anchors.length - 2, Math.floor(t));
    const f = t - k;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = anchors[k][c] + (anchors[k + 1][c] - anchors[k][c]) * f;
  }
  return out;
})();
const MASKED = [38, 44, 58];
const OUTSIDE = [11, 13, 16];

const limits = { vmin: 0, vmax: 1 };

function computeLimits() {
  const img = state.image;
  if (!img) return;
  const d = img.data;
  const step = Math.max(1, Math.floor(d.length / 200000));
  const sample = [];
  let max = -Infinity;
  let min = Infinity;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v === v) {
      if (v > max) max = v;
      if (v < min) min = v;
    }
  }
  for (let i = 0; i < d.length; i += step) if (d[i] === d[i]) sample.push(d[i]);
  sample.sort((a, b) => a - b);
  const user = Number($('vmax').value);
  const log = $('scale').value === 'log';
  let vmax = log ? max : (sample[Math.min(sample.length - 1, Math.floor(sample.length * 0.999))] ?? 1);
  if ($('vmax').value !== '' && Number.isFinite(user)) vmax = user;
  limits.vmin = Number.isFinite(min) ? Math.min(0, min) : 0;
  limits.vmax = Number.isFinite(vmax) && vmax > limits.vmin ? vmax : limits.vmin + 1;
  $('cb-min').textContent = fmt(limits.vmin, 3);
  $('cb-max').textContent = fmt(limits.vmax, 3);
  $('vmax').title = `colour scale maximum; empty = automatic (now ${fmt(limits.vmax, 4)})`;
}

function drawColorbar() {
  const c = /** @type {HTMLCanvasElement} */ ($('colorbar'));
  const ctx = c.getContext('2d');
  const im = ctx.createImageData(c.width, c.height);
  for (let x = 0; x < c.width; x++) {
    const i = Math.round((x / (c.width - 1)) * 255);
    for (let y = 0; y < c.height; y++) {
      const o = (y * c.width + x) * 4;
      im.data[o] = LUT[i * 3];
      im.data[o + 1] = LUT[i * 3 + 1];
      im.data[o + 2] = LUT[i * 3 + 2];
      im.data[o + 3] = 255;
    }
  }
  ctx.putImageData(im, 0, 0);
}

// ---------------------------------------------------------------- image rendering

const canvas = /** @type {HTMLCanvasElement} */ ($('image-canvas'));
const ctx = canvas.getContext('2d');
/** the rendered image without ROIs, redrawn only when the image, view or settings change */
let baseImage = null;

function frameRows() {
  return state.status && state.status.shape ? state.status.shape[0] : state.image ? state.image.rows + state.image.row0 : 0;
}
function frameCols() {
  return state.status && state.status.shape ? state.status.shape[1] : state.image ? state.image.cols + state.image.col0 : 0;
}

function fitView() {
  const rows = frameRows();
  const cols = frameCols();
  if (!rows || !cols) return;
  const s = Math.min(canvas.width / cols, canvas.height / rows);
  state.view.scale = s;
  state.view.x = (cols - canvas.width / s) / 2;
  state.view.y = (rows - canvas.height / s) / 2;
  state.view.fitted = true;
}

function resizeCanvas() {
  const r = canvas.getBoundingClientRect();
  const w = Math.max(1, Math.round(r.width));
  const h = Math.max(1, Math.round(r.height));
  if (canvas.width === w && canvas.height === h) return;
  canvas.width = w;
  canvas.height = h;
  if (state.view.fitted) fitView();
  renderImage();
}

function renderImage() {
  const W = canvas.width;
  const H = canvas.height;
  const im = ctx.createImageData(W, H);
  const px = im.data;
  const img = state.image;
  const { scale: s, x: ox, y: oy } = state.view;
  const maxFilter = /** @type {HTMLInputElement} */ ($('max-filter')).checked && s < 1;
  const log = $('scale').value === 'log';
  const rings = /** @type {HTMLInputElement} */ ($('show-rings')).checked && state.rings && state.geometry && state.geometry.poni ? state.rings : null;
  const { vmin, vmax } = limits;
  const span = vmax - vmin;
  const logSpan = Math.log1p(Math.max(span, 1e-30));
  // image-pixel ranges covered by each canvas column and row
  const x0s = new Int32Array(W);
  const x1s = new Int32Array(W);
  const y0s = new Int32Array(H);
  const y1s = new Int32Array(H);
  for (let c = 0; c < W; c++) {
    const a = ox + c / s;
    const b = ox + (c + 1) / s;
    x0s[c] = s >= 1 || !maxFilter ? Math.floor(ox + (c + 0.5) / s) : Math.floor(a);
    x1s[c] = s >= 1 || !maxFilter ? x0s[c] + 1 : Math.max(Math.floor(a) + 1, Math.ceil(b));
  }
  for (let r = 0; r < H; r++) {
    const a = oy + r / s;
    const b = oy + (r + 1) / s;
    y0s[r] = s >= 1 || !maxFilter ? Math.floor(oy + (r + 0.5) / s) : Math.floor(a);
    y1s[r] = s >= 1 || !maxFilter ? y0s[r] + 1 : Math.max(Math.floor(a) + 1, Math.ceil(b));
  }
  const ringBlocks = rings !== null && s < 1;
  const rx0s = new Int32Array(W);
  const rx1s = new Int32Array(W);
  const ry0s = new Int32Array(H);
  const ry1s = new Int32Array(H);
  if (rings) {
    for (let c = 0; c < W; c++) {
      rx0s[c] = ringBlocks ? Math.floor(ox + c / s) : Math.floor(ox + (c + 0.5) / s);
      rx1s[c] = ringBlocks ? Math.max(rx0s[c] + 1, Math.ceil(ox + (c + 1) / s)) : rx0s[c] + 1;
    }
    for (let r = 0; r < H; r++) {
      ry0s[r] = ringBlocks ? Math.floor(oy + r / s) : Math.floor(oy + (r + 0.5) / s);
      ry1s[r] = ringBlocks ? Math.max(ry0s[r] + 1, Math.ceil(oy + (r + 1) / s)) : ry0s[r] + 1;
    }
  }
  const fr = frameRows();
  const fc = frameCols();
  for (let r = 0; r < H; r++) {
    const ya = y0s[r];
    const yb = y1s[r];
    for (let c = 0; c < W; c++) {
      const o = (r * W + c) * 4;
      const xa = x0s[c];
      const xb = x1s[c];
      let rgb = OUTSIDE;
      let lutIndex = -1;
      if (ya < fr && yb > 0 && xa < fc && xb > 0) {
        rgb = MASKED;
        if (img) {
          // the array may cover only part of the frame (the photon image)
          const iy0 = Math.max(ya, img.row0) - img.row0;
          const iy1 = Math.min(yb, img.row0 + img.rows) - img.row0;
          const ix0 = Math.max(xa, img.col0) - img.col0;
          const ix1 = Math.min(xb, img.col0 + img.cols) - img.col0;
          let v = NaN;
          for (let y = iy0; y < iy1; y++) {
            const base = y * img.cols;
            for (let x = ix0; x < ix1; x++) {
              const w = img.data[base + x];
              if (w === w && !(w <= v)) v = w;
            }
          }
          if (v === v) {
            let t = log ? Math.log1p(Math.max(v - vmin, 0)) / logSpan : (v - vmin) / span;
            if (!(t > 0)) t = 0;
            else if (t > 1) t = 1;
            lutIndex = Math.round(t * 255);
          }
        }
        if (rings) {
          let ring = 0;
          const ry0 = Math.max(0, ry0s[r]);
          const ry1 = Math.min(rings.rows, ry1s[r]);
          const rx0 = Math.max(0, rx0s[c]);
          const rx1 = Math.min(rings.cols, rx1s[c]);
          for (let y = ry0; y < ry1 && ring === 0; y++) {
            const base = y * rings.cols;
            for (let x = rx0; x < rx1; x++) {
              const q = rings.data[base + x];
              if (q !== 0) {
                ring = q;
                break;
              }
            }
          }
          if (ring !== 0) {
            rgb = RING_COLORS[(ring - 1) % RING_COLORS.length];
            lutIndex = -1;
          }
        }
      }
      if (lutIndex >= 0) {
        px[o] = LUT[lutIndex * 3];
        px[o + 1] = LUT[lutIndex * 3 + 1];
        px[o + 2] = LUT[lutIndex * 3 + 2];
      } else {
        px[o] = rgb[0];
        px[o + 1] = rgb[1];
        px[o + 2] = rgb[2];
      }
      px[o + 3] = 255;
    }
  }
  baseImage = im;
  const info = img ? `${img.kind} · ${img.frames} frame${img.frames === 1 ? '' : 's'} · ${fr}×${fc} · zoom ${fmt(s, 3)}${maxFilter ? ' · max filter' : ''}` : '';
  $('image-info').textContent = info;
  drawOverlay();
}

function toCanvas(row, col) {
  const { scale: s, x: ox, y: oy } = state.view;
  return [(col - ox) * s, (row - oy) * s];
}

function toImage(cx, cy) {
  const { scale: s, x: ox, y: oy } = state.view;
  return [oy + cy / s, ox + cx / s];
}

function currentRois() {
  if (state.drag && state.drag.rois) return state.drag.rois;
  return state.rois;
}

function drawOverlay() {
  if (baseImage) ctx.putImageData(baseImage, 0, 0);
  const rois = currentRois();
  ctx.save();
  ctx.lineWidth = 1.5;
  ctx.font = '12px system-ui, "DejaVu Sans", sans-serif';
  for (const [name, r] of Object.entries(rois)) {
    const [x0, y0] = toCanvas(r.row0, r.col0);
    const [x1, y1] = toCanvas(r.row1, r.col1);
    const color = roiColor(name);
    ctx.strokeStyle = color;
    ctx.setLineDash(name === 'photon' ? [6, 4] : []);
    ctx.strokeRect(Math.round(x0) + 0.5, Math.round(y0) + 0.5, Math.round(x1 - x0), Math.round(y1 - y0));
    ctx.setLineDash([]);
    const m = state.roiMeans[name];
    const label = m && Number.isFinite(m.mean) ? `${name}  ${fmt(m.mean, 3)}` : name;
    const tw = ctx.measureText(label).width;
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(x0, y0 - 16, tw + 8, 15);
    ctx.fillStyle = color;
    ctx.fillText(label, x0 + 4, y0 - 4);
    if (name === state.selected) {
      for (const [hx, hy] of [[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) ctx.fillRect(hx - 4, hy - 4, 8, 8);
    }
  }
  ctx.restore();
}

// ---------------------------------------------------------------- interaction

function canvasPoint(ev) {
  const r = canvas.getBoundingClientRect();
  return [ev.clientX - r.left, ev.clientY - r.top];
}

function hitRoi(cx, cy) {
  const names = Object.keys(state.rois).reverse();
  for (const name of names) {
    const r = state.rois[name];
    const [x0, y0] = toCanvas(r.row0, r.col0);
    const [x1, y1] = toCanvas(r.row1, r.col1);
    const corners = [[x0, y0, 'tl'], [x1, y0, 'tr'], [x0, y1, 'bl'], [x1, y1, 'br']];
    for (const [hx, hy, which] of corners) if (Math.abs(cx - hx) <= 7 && Math.abs(cy - hy) <= 7) return { name, mode: 'resize', corner: which };
  }
  for (const name of names) {
    const r = state.rois[name];
    const [x0, y0] = toCanvas(r.row0, r.col0);
    const [x1, y1] = toCanvas(r.row1, r.col1);
    if (cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1) return { name, mode: 'move' };
  }
  return null;
}

function newRoiName() {
  let k = 1;
  while (state.rois[`roi${k}`]) k++;
  return `roi${k}`;
}

function clampRoi(r) {
  const rows = frameRows();
  const cols = frameCols();
  const out = { row0: Math.round(r.row0), row1: Math.round(r.row1), col0: Math.round(r.col0), col1: Math.round(r.col1) };
  if (out.row0 > out.row1) [out.row0, out.row1] = [out.row1, out.row0];
  if (out.col0 > out.col1) [out.col0, out.col1] = [out.col1, out.col0];
  if (rows && cols) {
    out.row0 = Math.max(0, Math.min(rows - 1, out.row0));
    out.col0 = Math.max(0, Math.min(cols - 1, out.col0));
    out.row1 = Math.max(out.row0 + 1, Math.min(rows, out.row1));
    out.col1 = Math.max(out.col0 + 1, Math.min(cols, out.col1));
  } else {
    out.row1 = Math.max(out.row0 + 1, out.row1);
    out.col1 = Math.max(out.col0 + 1, out.col1);
  }
  return out;
}

canvas.addEventListener('pointerdown', (ev) => {
  if (ev.button !== 0) return;
  canvas.focus();
  const [cx, cy] = canvasPoint(ev);
  const [row, col] = toImage(cx, cy);
  const hit = state.drawMode || ev.shiftKey ? null : hitRoi(cx, cy);
  canvas.setPointerCapture(ev.pointerId);
  if (hit) {
    state.selected = hit.name;
    state.drag = { mode: hit.mode, corner: hit.corner, name: hit.name, start: [row, col], orig: { ...state.rois[hit.name] }, rois: { ...state.rois }, changed: false };
  } else if (state.drawMode || ev.shiftKey) {
    const name = newRoiName();
    state.selected = name;
    state.drag = { mode: 'create', name, start: [row, col], rois: { ...state.rois, [name]: clampRoi({ row0: row, row1: row + 1, col0: col, col1: col + 1 }) }, changed: true };
  } else {
    state.selected = null;
    state.drag = { mode: 'pan', start: [cx, cy], view: { ...state.view } };
    canvas.classList.add('panning');
  }
  updateRoiTable();
  drawOverlay();
});

canvas.addEventListener('pointermove', (ev) => {
  const [cx, cy] = canvasPoint(ev);
  const [row, col] = toImage(cx, cy);
  updateReadout(row, col);
  const d = state.drag;
  if (!d) return;
  if (d.mode === 'pan') {
    const s = state.view.scale;
    state.view.x = d.view.x - (cx - d.start[0]) / s;
    state.view.y = d.view.y - (cy - d.start[1]) / s;
    state.view.fitted = false;
    renderImage();
    return;
  }
  const dr = row - d.start[0];
  const dc = col - d.start[1];
  let r;
  if (d.mode === 'create') {
    r = clampRoi({ row0: d.start[0], row1: row, col0: d.start[1], col1: col });
  } else if (d.mode === 'move') {
    const o = d.orig;
    const h = o.row1 - o.row0;
    const w = o.col1 - o.col0;
    const rows = frameRows() || Infinity;
    const cols = frameCols() || Infinity;
    const r0 = Math.max(0, Math.min(rows - h, Math.round(o.row0 + dr)));
    const c0 = Math.max(0, Math.min(cols - w, Math.round(o.col0 + dc)));
    r = { row0: r0, row1: r0 + h, col0: c0, col1: c0 + w };
  } else {
    const o = { ...d.orig };
    if (d.corner === 'tl' || d.corner === 'tr') o.row0 += dr;
    else o.row1 += dr;
    if (d.corner === 'tl' || d.corner === 'bl') o.col0 += dc;
    else o.col1 += dc;
    r = clampRoi(o);
  }
  d.rois = { ...d.rois, [d.name]: r };
  d.changed = true;
  drawOverlay();
});

function endDrag() {
  const d = state.drag;
  state.drag = null;
  canvas.classList.remove('panning');
  if (!d || d.mode === 'pan') return;
  if (d.changed) {
    const r = d.rois[d.name];
    if (d.mode === 'create' && (r.row1 - r.row0 < 2 || r.col1 - r.col0 < 2)) {
      drawOverlay();
      return; // a click, not a rectangle
    }
    state.rois = d.rois;
    if (d.mode === 'create') setDrawMode(false);
    void sendRois();
  }
  drawOverlay();
}
canvas.addEventListener('pointerup', endDrag);
canvas.addEventListener('pointercancel', endDrag);

canvas.addEventListener('wheel', (ev) => {
  ev.preventDefault();
  const [cx, cy] = canvasPoint(ev);
  zoomAt(cx, cy, ev.deltaY < 0 ? 1.25 : 0.8);
}, { passive: false });

canvas.addEventListener('dblclick', () => {
  fitView();
  renderImage();
});

canvas.addEventListener('keydown', (ev) => {
  if ((ev.key === 'Delete' || ev.key === 'Backspace') && state.selected && state.rois[state.selected]) {
    const rois = { ...state.rois };
    delete rois[state.selected];
    state.rois = rois;
    state.selected = null;
    void sendRois();
    drawOverlay();
  } else if (ev.key === 'Escape') {
    setDrawMode(false);
  }
});

canvas.addEventListener('pointerleave', () => {
  $('readout').textContent = '–';
});

function zoomAt(cx, cy, factor) {
  const [row, col] = toImage(cx, cy);
  const s = Math.min(64, Math.max(0.02, state.view.scale * factor));
  state.view.scale = s;
  state.view.x = col - cx / s;
  state.view.y = row - cy / s;
  state.view.fitted = false;
  renderImage();
}

function updateReadout(row, col) {
  const r = Math.floor(row);
  const c = Math.floor(col);
  const img = state.image;
  if (!img || r < 0 || c < 0 || r >= frameRows() || c >= frameCols()) {
    $('readout').textContent = '–';
    return;
  }
  let v = NaN;
  if (r >= img.row0 && r < img.row0 + img.rows && c >= img.col0 && c < img.col0 + img.cols) v = img.data[(r - img.row0) * img.cols + (c - img.col0)];
  $('readout').textContent = `row ${r}, col ${c}: ${Number.isNaN(v) ? 'masked' : fmt(v, 5)}`;
}

function setDrawMode(on) {
  state.drawMode = on;
  $('btn-new-roi').classList.toggle('active', on);
}

// ---------------------------------------------------------------- ROIs

async function sendRois() {
  const body = JSON.stringify(state.rois);
  try {
    const r = await api('/api/rois', body);
    applyRois(r);
    clearErrorIf('ROIs');
  } catch (err) {
    showError(`ROIs: ${err instanceof Error ? err.message : String(err)}`);
    const r = await api('/api/rois').catch(() => null);
    if (r) applyRois(r);
  }
}

function clearErrorIf(prefix) {
  if (state.lastError.startsWith(prefix)) clearError();
}

function applyRois(r) {
  if (state.drag && state.drag.mode !== 'pan') return; // the user is editing; the server's copy comes with the next change
  state.rois = r.rois;
  state.roiMeans = r.means;
  state.roiSource = r.source;
  if (state.selected && !state.rois[state.selected]) state.selected = null;
  const ta = /** @type {HTMLTextAreaElement} */ ($('roi-json'));
  if (document.activeElement !== ta) ta.value = JSON.stringify(r.rois);
  updateRoiTable();
  drawOverlay();
}

let roiTableKey = '';
function updateRoiTable() {
  const tbody = $('roi-table').querySelector('tbody');
  $('roi-mean-head').textContent = state.roiSource === 'photons' ? 'photons/px/frame' : 'mean/px/frame';
  const lastMeans = state.status && state.status.lastFrame ? state.status.lastFrame.roiMeans : {};
  const key = JSON.stringify([state.rois, state.selected]);
  if (key === roiTableKey) {
    // the same ROIs: only the numbers change
    for (const tr of tbody.children) {
      const name = tr.dataset.roi;
      if (name === 'photon') continue;
      const m = state.roiMeans[name];
      tr.children[4].textContent = fmt(m ? m.mean : NaN);
      tr.children[5].textContent = fmt(lastMeans[name]);
    }
    return;
  }
  roiTableKey = key;
  const rows = [];
  for (const [name, r] of Object.entries(state.rois)) {
    const tr = document.createElement('tr');
    tr.dataset.roi = name;
    if (name === state.selected) tr.className = 'selected';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = roiColor(name);
    const m = state.roiMeans[name];
    const cells = [sw, name, `${r.row0}:${r.row1}`, `${r.col0}:${r.col1}`, name === 'photon' ? '(detection)' : fmt(m ? m.mean : NaN), name === 'photon' ? '' : fmt(lastMeans[name])];
    for (const c of cells) {
      const td = document.createElement('td');
      if (typeof c === 'string') td.textContent = c;
      else td.appendChild(c);
      tr.appendChild(td);
    }
    tr.children[4].className = 'roi-mean';
    const del = document.createElement('button');
    del.className = 'small';
    del.type = 'button';
    del.textContent = '×';
    del.title = `remove ${name}`;
    del.addEventListener('click', () => {
      const next = { ...state.rois };
      delete next[name];
      state.rois = next;
      void sendRois();
      drawOverlay();
    });
    const td = document.createElement('td');
    td.appendChild(del);
    tr.appendChild(td);
    tr.addEventListener('click', (e) => {
      if (e.target === del) return;
      state.selected = name;
      updateRoiTable();
      drawOverlay();
    });
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
}

// ---------------------------------------------------------------- geometry

const PONI_INPUTS = [
  ['dist', 'poni-dist', 1e3],
  ['poni1', 'poni-poni1', 1e3],
  ['poni2', 'poni-poni2', 1e3],
  ['rot1', 'poni-rot1', 1],
  ['rot2', 'poni-rot2', 1],
  ['rot3', 'poni-rot3', 1],
  ['wavelength', 'poni-wavelength', 1e10],
  ['pixel1', 'poni-pixel1', 1e6],
  ['pixel2', 'poni-pixel2', 1e6],
];

function applyGeometry(g) {
  state.geometry = g;
  const p = g.poni || g.defaults;
  const form = $('poni-form');
  if (!form.contains(document.activeElement)) {
    for (const [k, id, f] of PONI_INPUTS) /** @type {HTMLInputElement} */ ($(id)).value = String(Number((p[k] * f).toPrecision(8)));
    /** @type {HTMLInputElement} */ ($('poni-q')).value = g.q.join(', ');
  }
  $('poni-state').textContent = g.poni ? `geometry set${g.q.length ? ` · ${g.q.length} ring${g.q.length === 1 ? '' : 's'}` : ''}` : 'no geometry (the form shows defaults)';
  state.rings = null;
  if (g.poni) {
    const shape = state.status && state.status.shape;
    if (shape) void wantRings(`${g.version}:${shape.join('x')}`);
    wantIntegration(state.status ? state.status.imageVersion : 0, true);
  } else {
    renderImage();
    drawMessage($('int-plot'), 'set a detector position (PONI) to integrate');
  }
}

$('poni-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const poni = {};
  for (const [k, id, f] of PONI_INPUTS) {
    const t = /** @type {HTMLInputElement} */ ($(id)).value.trim();
    const v = Number(t);
    if (t === '' || !Number.isFinite(v)) {
      showError(`geometry: ${k} is not a number`);
      return;
    }
    poni[k] = v / f;
  }
  const qText = /** @type {HTMLInputElement} */ ($('poni-q')).value.trim();
  const q = qText === '' ? [] : qText.split(/[\s,;]+/).filter(Boolean).map(Number);
  void act('geometry', async () => {
    const g = await api('/api/geometry', { poni, q });
    clearErrorIf('geometry');
    applyGeometry(g);
  });
});

$('btn-poni-clear').addEventListener('click', () => {
  void act('geometry', async () => applyGeometry(await api('/api/geometry', { poni: null })));
});

// ---------------------------------------------------------------- plots

function niceStep(range, n) {
  const raw = range / Math.max(1, n);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

function linTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, n);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function drawMessage(svg, text) {
  svg.replaceChildren();
  const w = svg.clientWidth || 300;
  const h = svg.clientHeight || 200;
  svgEl('text', { x: w / 2, y: h / 2, 'text-anchor': 'middle', class: 'msg' }, svg).textContent = text;
}

/**
 * A plot frame: axes, ticks and labels; returns the scales.
 * opts: {xlo, xhi, ylo, yhi, logY, xLabel, yLabel}
 */
function plotFrame(svg, opts) {
  svg.replaceChildren();
  const W = svg.clientWidth || 400;
  const H = svg.clientHeight || 230;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const m = { l: 58, r: 12, t: opts.legend ? 22 : 10, b: 34 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const { xlo, xhi, logY } = opts;
  const ylo = logY ? Math.log10(opts.ylo) : opts.ylo;
  const yhi = logY ? Math.log10(opts.yhi) : opts.yhi;
  const sx = (x) => m.l + ((x - xlo) / (xhi - xlo || 1)) * pw;
  const sy = (y) => m.t + ph - (((logY ? Math.log10(Math.max(y, opts.ylo)) : y) - ylo) / (yhi - ylo || 1)) * ph;
  for (const t of linTicks(xlo, xhi, Math.max(2, Math.floor(pw / 70)))) {
    const x = sx(t);
    svgEl('line', { x1: x, x2: x, y1: m.t, y2: m.t + ph, class: 'grid' }, svg);
    svgEl('text', { x, y: m.t + ph + 14, 'text-anchor': 'middle' }, svg).textContent = fmt(t, 4);
  }
  const yt = logY ? linTicks(Math.floor(ylo), Math.ceil(yhi), 5).filter((e) => Number.isInteger(e) && e >= ylo && e <= yhi) : linTicks(ylo, yhi, 5);
  for (const e of yt) {
    const v = logY ? Math.pow(10, e) : e;
    const y = sy(v);
    if (y < m.t - 0.5 || y > m.t + ph + 0.5) continue;
    svgEl('line', { x1: m.l, x2: m.l + pw, y1: y, y2: y, class: 'grid' }, svg);
    svgEl('text', { x: m.l - 4, y: y + 4, 'text-anchor': 'end' }, svg).textContent = fmt(v, 3);
  }
  svgEl('line', { x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph, class: 'axis' }, svg);
  svgEl('line', { x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph, class: 'axis' }, svg);
  svgEl('text', { x: m.l + pw / 2, y: H - 4, 'text-anchor': 'middle' }, svg).textContent = opts.xLabel;
  svgEl('text', { x: 12, y: m.t + ph / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${m.t + ph / 2})` }, svg).textContent = opts.yLabel;
  const clipId = `clip-${svg.id}`;
  const clip = svgEl('clipPath', { id: clipId }, svgEl('defs', {}, svg));
  svgEl('rect', { x: m.l, y: m.t - 4, width: pw + 4, height: ph + 4 }, clip);
  const data = svgEl('g', { 'clip-path': `url(#${clipId})` }, svg);
  let lx = m.l;
  for (const [name, color] of opts.legend ?? []) {
    svgEl('rect', { x: lx, y: 6, width: 10, height: 10, fill: color }, svg);
    const t = svgEl('text', { x: lx + 14, y: 15, class: 'legend' }, svg);
    t.textContent = name;
    lx += 22 + 7 * name.length;
  }
  return { sx, sy, m, pw, ph, W, H, data };
}

// steps: ROI mean ± std against the motor (or frame number)

function pickScan() {
  if (state.scans.length === 0) return null;
  if (state.pickedScan !== null) {
    const s = state.scans.find((x) => x.id === state.pickedScan);
    if (s) return s;
  }
  // the latest scan with steps, else the latest
  for (let k = state.scans.length - 1; k >= 0; k--) if (state.scans[k].steps.length > 0) return state.scans[k];
  return state.scans[state.scans.length - 1];
}

function updateScanSelect() {
  const sel = /** @type {HTMLSelectElement} */ ($('scan-select'));
  const key = state.scans.map((s) => `${s.id}:${s.steps.length}`).join(',');
  if (sel.dataset.key === key) return;
  sel.dataset.key = key;
  const opts = [new Option('latest scan', '')];
  for (const s of state.scans) opts.push(new Option(`scan ${s.scan} · ${s.stream} · ${s.steps.length} steps`, String(s.id)));
  sel.replaceChildren(...opts);
  sel.value = state.pickedScan === null ? '' : String(state.pickedScan);
}

$('scan-select').addEventListener('change', () => {
  const v = /** @type {HTMLSelectElement} */ ($('scan-select')).value;
  state.pickedScan = v === '' ? null : Number(v);
  drawSteps();
});

function drawSteps() {
  updateScanSelect();
  const svg = $('steps-plot');
  const scan = pickScan();
  if (!scan || scan.steps.length === 0) {
    drawMessage(svg, 'no scan steps yet');
    return;
  }
  const steps = scan.steps;
  const names = [...new Set(steps.flatMap((s) => Object.keys(s.means)))];
  $('steps-axis').textContent = scan.axis === 'frame' ? 'frame number' : scan.axis;
  let xlo = Infinity;
  let xhi = -Infinity;
  let ylo = Infinity;
  let yhi = -Infinity;
  for (const s of steps) {
    if (s.x === null || !Number.isFinite(s.x)) continue;
    xlo = Math.min(xlo, s.x);
    xhi = Math.max(xhi, s.x);
    for (const n of names) {
      const st = s.means[n];
      if (!st || st.mean === null || !Number.isFinite(st.mean)) continue;
      const e = Number.isFinite(st.std) ? st.std : 0;
      ylo = Math.min(ylo, st.mean - e);
      yhi = Math.max(yhi, st.mean + e);
    }
  }
  if (!Number.isFinite(xlo) || !Number.isFinite(ylo)) {
    drawMessage(svg, 'no finite ROI means in this scan');
    return;
  }
  if (xhi === xlo) {
    xlo -= 0.5;
    xhi += 0.5;
  }
  const pad = (yhi - ylo) * 0.08 || Math.abs(yhi) * 0.1 || 1;
  const xpad = (xhi - xlo) * 0.04;
  const colorOf = (n) => (state.rois[n] ? roiColor(n) : '#8a93a3');
  const f = plotFrame(svg, { xlo: xlo - xpad, xhi: xhi + xpad, ylo: ylo - pad, yhi: yhi + pad, logY: false, xLabel: scan.axis === 'frame' ? 'frame' : scan.axis, yLabel: state.roiSource === 'photons' ? 'photons / px' : 'mean / px', legend: names.map((n) => [n, colorOf(n)]) });
  names.forEach((n) => {
    const color = colorOf(n);
    const g = svgEl('g', { class: 'series', 'data-roi': n }, f.data);
    const pts = [];
    for (const s of steps) {
      const st = s.means[n];
      if (!st || st.mean === null || !Number.isFinite(st.mean) || s.x === null) continue;
      const x = f.sx(s.x);
      const y = f.sy(st.mean);
      pts.push(`${x},${y}`);
      if (Number.isFinite(st.std) && st.std > 0) {
        const y0 = f.sy(st.mean - st.std);
        const y1 = f.sy(st.mean + st.std);
        svgEl('line', { x1: x, x2: x, y1: y0, y2: y1, stroke: color, 'stroke-width': 1.2, class: 'errorbar' }, g);
        svgEl('line', { x1: x - 4, x2: x + 4, y1: y0, y2: y0, stroke: color, 'stroke-width': 1.2 }, g);
        svgEl('line', { x1: x - 4, x2: x + 4, y1: y1, y2: y1, stroke: color, 'stroke-width': 1.2 }, g);
      }
      const c = svgEl('circle', { cx: x, cy: y, r: 3.2, fill: color, class: 'point' }, g);
      svgEl('title', {}, c).textContent = `${n}: ${fmt(st.mean)} ± ${fmt(st.std)} (n = ${st.n}) at ${fmt(s.x)}`;
    }
    if (pts.length > 1) svgEl('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 1, 'stroke-opacity': 0.6 }, g);
  });
}

function onStep(ev) {
  const scan = state.scans.find((s) => s.id === ev.scanId);
  if (scan) {
    scan.steps.push(ev);
    scan.axis = ev.axis;
  }
  drawSteps();
}

// histogram

const histFetch = { wanted: -1, shown: -2, busy: false, timer: 0, last: 0 };
function wantHistogram(version) {
  histFetch.wanted = Math.max(histFetch.wanted, version);
  if (histFetch.busy || histFetch.timer || histFetch.shown >= histFetch.wanted) return;
  const wait = Math.max(0, histFetch.last + 1000 - performance.now());
  histFetch.timer = setTimeout(async () => {
    histFetch.timer = 0;
    histFetch.busy = true;
    histFetch.last = performance.now();
    try {
      const h = await api('/api/histogram');
      state.histogram = h;
      histFetch.shown = h.version;
      drawHistogram();
    } catch (err) {
      showError(`histogram: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      histFetch.busy = false;
      if (histFetch.shown < histFetch.wanted) wantHistogram(histFetch.wanted);
    }
  }, wait);
}

function drawHistogram() {
  const svg = $('hist-plot');
  const h = state.histogram;
  if (!h) return;
  $('hist-total').textContent = h.enabled ? `${h.total} candidate hits` : '';
  if (!h.enabled) {
    drawMessage(svg, 'photon detection is off');
    return;
  }
  if (h.total === 0) {
    drawMessage(svg, 'no photon candidates yet');
    return;
  }
  const log = /** @type {HTMLInputElement} */ ($('hist-log')).checked;
  // show the range that holds counts
  let first = h.counts.findIndex((c) => c > 0);
  let last = h.counts.length - 1;
  while (last > first && h.counts[last] === 0) last--;
  first = Math.max(0, first - 1);
  last = Math.min(h.counts.length - 1, last + 1);
  const max = Math.max(...h.counts);
  const f = plotFrame(svg, { xlo: h.edges[first], xhi: h.edges[last + 1], ylo: log ? 0.8 : 0, yhi: max * (log ? 1.5 : 1.05), logY: log, xLabel: 'energy (sum over 3×3, raw units)', yLabel: 'candidate hits' });
  const base = f.m.t + f.ph;
  for (let k = first; k <= last; k++) {
    const c = h.counts[k];
    if (c <= 0) continue;
    const x0 = f.sx(h.edges[k]);
    const x1 = f.sx(h.edges[k + 1]);
    const y = f.sy(c);
    const r = svgEl('rect', { x: x0, y, width: Math.max(1, x1 - x0 - 0.5), height: Math.max(0.5, base - y), class: 'bar' }, f.data);
    svgEl('title', {}, r).textContent = `${fmt(h.edges[k])}–${fmt(h.edges[k + 1])}: ${c}`;
  }
}
$('hist-log').addEventListener('change', drawHistogram);

// integration

const intFetch = { wanted: -1, shown: -2, busy: false, timer: 0, last: 0 };
function wantIntegration(version, force = false) {
  if (force) intFetch.shown = -2;
  intFetch.wanted = Math.max(intFetch.wanted, version);
  if (intFetch.busy || intFetch.timer || intFetch.shown >= intFetch.wanted) return;
  const wait = Math.max(0, intFetch.last + 2000 - performance.now());
  intFetch.timer = setTimeout(async () => {
    intFetch.timer = 0;
    if (!state.geometry || !state.geometry.poni) return;
    intFetch.busy = true;
    intFetch.last = performance.now();
    const target = intFetch.wanted;
    try {
      const r = await api('/api/integration');
      intFetch.shown = target;
      drawIntegration(r);
    } catch (err) {
      intFetch.shown = target;
      drawMessage($('int-plot'), err instanceof Error ? err.message : String(err));
    } finally {
      intFetch.busy = false;
      if (intFetch.shown < intFetch.wanted) wantIntegration(intFetch.wanted);
    }
  }, wait);
}

function drawIntegration(r) {
  const svg = $('int-plot');
  const xs = [];
  const ys = [];
  const ns = [];
  for (let k = 0; k < r.radial.length; k++) {
    if (r.intensity[k] === null || r.radial[k] === null) continue;
    xs.push(r.radial[k]);
    ys.push(r.intensity[k]);
    ns.push(r.count[k]);
  }
  if (xs.length < 2) {
    drawMessage(svg, 'nothing to integrate yet');
    return;
  }
  $('int-state').textContent = `${r.frames} frames · ${r.backend}`;
  // the y range from bins with enough pixels: the few pixels at the detector's
  // edges and around the beam stop make noisy spikes that would flatten the pattern
  const medianCount = [...ns].sort((a, b) => a - b)[Math.floor(ns.length / 2)];
  const solid = ys.filter((_y, k) => ns[k] >= 0.2 * medianCount);
  const ylo = Math.min(0, ...solid);
  const yhi = Math.max(...solid);
  const f = plotFrame(svg, { xlo: xs[0], xhi: xs[xs.length - 1], ylo, yhi: yhi + (yhi - ylo) * 0.05 || 1, logY: false, xLabel: r.unit === 'q_A^-1' ? 'q (Å⁻¹)' : '2θ (°)', yLabel: 'intensity / px / frame' });
  if (state.geometry) {
    state.geometry.q.forEach((q, k) => {
      if (q < xs[0] || q > xs[xs.length - 1]) return;
      const c = RING_COLORS[k % RING_COLORS.length];
      svgEl('line', { x1: f.sx(q), x2: f.sx(q), y1: f.m.t, y2: f.m.t + f.ph, stroke: `rgb(${c.join(',')})`, 'stroke-dasharray': '3 3', 'stroke-opacity': 0.7, class: 'ring-mark' }, f.data);
    });
  }
  svgEl('polyline', { points: xs.map((x, k) => `${f.sx(x)},${f.sy(ys[k])}`).join(' '), fill: 'none', stroke: '#5fb3f9', 'stroke-width': 1.2, class: 'pattern' }, f.data);
}

// ---------------------------------------------------------------- controls

$('btn-start').addEventListener('click', () => void act('start', async () => applyStatus(await api('/api/control', { action: 'start' }))));
$('btn-stop').addEventListener('click', () => void act('stop', async () => applyStatus(await api('/api/control', { action: 'stop' }))));
$('btn-reset').addEventListener('click', () => void act('reset', async () => applyStatus(await api('/api/control', { action: 'reset' }))));
$('btn-replay').addEventListener('click', () => void act('replay', async () => {
  clearError();
  applyStatus(await api('/api/control', { action: 'replay' }));
}));
$('btn-source').addEventListener('click', () => void act('source', async () => {
  const sources = /** @type {HTMLInputElement} */ ($('source-input')).value.split(',').map((s) => s.trim()).filter(Boolean);
  const s = await api('/api/source', { sources });
  clearError();
  applyStatus(s);
}));
$('btn-roi-json').addEventListener('click', () => void act('ROIs', async () => {
  applyRois(await api('/api/rois', /** @type {HTMLTextAreaElement} */ ($('roi-json')).value));
  clearErrorIf('ROIs');
}));
$('error-close').addEventListener('click', () => {
  state.dismissedError = state.lastError;
  clearError();
});
$('btn-new-roi').addEventListener('click', () => setDrawMode(!state.drawMode));
$('btn-zoom-in').addEventListener('click', () => zoomAt(canvas.width / 2, canvas.height / 2, 1.5));
$('btn-zoom-out').addEventListener('click', () => zoomAt(canvas.width / 2, canvas.height / 2, 1 / 1.5));
$('btn-fit').addEventListener('click', () => {
  fitView();
  renderImage();
});
$('btn-one').addEventListener('click', () => zoomAt(canvas.width / 2, canvas.height / 2, 1 / state.view.scale));
for (const id of ['scale', 'vmax']) {
  $(id).addEventListener('change', () => {
    computeLimits();
    renderImage();
  });
}
for (const id of ['max-filter', 'show-rings']) $(id).addEventListener('change', renderImage);
$('image-kind').addEventListener('change', () => {
  imageFetch.kind = /** @type {HTMLSelectElement} */ ($('image-kind')).value;
  scheduleImage();
});

// ---------------------------------------------------------------- events

function connect() {
  const es = new EventSource('/api/events');
  const conn = $('conn');
  es.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'pill running';
  });
  es.addEventListener('error', () => {
    conn.textContent = es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…';
    conn.className = 'pill lost';
  });
  const on = (name, fn) => es.addEventListener(name, (ev) => {
    try {
      fn(JSON.parse(/** @type {MessageEvent} */ (ev).data));
    } catch (err) {
      showError(`event ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  on('hello', (h) => {
    state.config = h.config;
    state.scans = h.steps.scans;
    applyRois(h.rois);
    applyGeometry(h.geometry);
    applyStatus(h.status);
    drawSteps();
  });
  on('status', applyStatus);
  on('step', onStep);
  on('rois', applyRois);
  on('geometry', applyGeometry);
  on('scan-start', (e) => {
    state.scans.push({ id: e.id, scan: e.scan, stream: e.stream, filename: e.filename, axis: 'frame', frames: 0, open: true, steps: [] });
    if (state.scans.length > 50) state.scans.shift();
    drawSteps();
  });
  on('scan-end', () => drawSteps());
  on('reset', () => undefined);
  on('error', (e) => showError(`source: ${e.message}`));
  on('notice', () => undefined);
}


/** A small hook for tests and scripts: image ↔ page coordinates. */
window.diffractViewer = {
  imageToClient(row, col) {
    const r = canvas.getBoundingClientRect();
    const [x, y] = toCanvas(row, col);
    return { x: r.left + x, y: r.top + y };
  },
  get view() {
    return { ...state.view };
  },
  get rois() {
    return JSON.parse(JSON.stringify(state.rois));
  },
};

new ResizeObserver(resizeCanvas).observe($('canvas-wrap'));
window.addEventListener('resize', () => {
  drawSteps();
  drawHistogram();
});
drawColorbar();
resizeCanvas();
drawMessage($('steps-plot'), 'no scan steps yet');
drawMessage($('hist-plot'), 'waiting for frames…');
drawMessage($('int-plot'), 'set a detector position (PONI) to integrate');
connect();
