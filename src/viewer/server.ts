/**
 * The live viewer's HTTP server (node:http, no framework): the static page,
 * a JSON + binary API over a LiveView, and Server-Sent Events.
 *
 * API (every error reply is JSON `{error, kind?, field?}`):
 *
 *   GET  /                      the page (self-contained: no external fetches)
 *   GET  /api/events            Server-Sent Events: 'hello' (a snapshot), then
 *                               'status' (≤ 10/s), 'step', 'reset', 'rois',
 *                               'geometry', 'scan-start', 'scan-end', 'notice',
 *                               'error'
 *   GET  /api/status            the status (frames, accumulation, errors, ROI means)
 *   GET  /api/image?kind=K      K = sum | mean | latest | clean: Float32
 *                               little-endian, row-major, NaN = no valid value;
 *                               headers X-Diffract-Rows/-Cols/-Row0/-Col0/
 *                               -Frames/-Version; 204 while there is none
 *   GET  /api/rings             Uint8 per pixel: q-ring index + 1, or 0; 204 without geometry
 *   GET  /api/histogram         {edges, counts, total, enabled}
 *   GET  /api/rois              {rois, means, source}
 *   POST /api/rois              named ROIs as JSON (any spelling parseRoisJson takes) → {rois, means}
 *   GET  /api/steps             {scans: [{axis, steps: [{x, means: {roi: {mean, std, n}}}]}]}
 *   GET  /api/geometry          {poni, q, defaults}
 *   POST /api/geometry          {poni: {dist, poni1, poni2, rot1, rot2, rot3, wavelength, pixel1, pixel2} | null, q: [Å⁻¹…]}
 *   GET  /api/integration       the azimuthal integration of the accumulation (needs geometry)
 *   POST /api/control           {action: start | stop | reset | replay}
 *   POST /api/source            {sources: [spec…]}: switch sources: only those the viewer
 *                               started with and files under `allowFolders` (`--allow DIR`),
 *                               anything else is a 403 (src/viewer/source-allow.ts); an
 *                               allowed but unknown one is a 400
 *
 * Safety: by default the server listens on 127.0.0.1 only. It then answers
 * only requests whose Host names a loopback address (against DNS rebinding),
 * and POSTs must be `application/json` with no foreign Origin (so another web
 * site open in the same browser cannot drive it). Bodies are limited to 1 MiB.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../errors.ts';
import { log } from '../util/log.ts';
import { HttpError, errorReply, isPlainObject, parseJsonBody, readBody, sendBinary, sendJson, sendText } from './http.ts';
import { IMAGE_KINDS, type ImageKind } from './image.ts';
import { SourceAllowList } from './source-allow.ts';
import { LiveView, type LiveEventName, type LiveOptions } from './live.ts';

export interface ViewerOptions extends LiveOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** 0 = any free port (default 8765) */
  port?: number;
  /** least time between two image fetches of the page (default 400 ms) */
  imageIntervalMs?: number;
  /** folders whose files POST /api/source may open besides the starting sources (`--allow`); default none */
  allowFolders?: readonly string[];
}

export interface Viewer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly live: LiveView;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8765;

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The page forbids every fetch that does not go back to this server. */
const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function loadStatic(): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const { file } of Object.values(STATIC_FILES)) {
    if (!out.has(file)) out.set(file, readFileSync(new URL(`./static/${file}`, import.meta.url)));
  }
  return out;
}

/** The hostname part of a Host header (`[::1]:8765` → `[::1]`, `localhost:80` → `localhost`). */
function hostName(header: string): string {
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    return end > 0 ? header.slice(0, end + 1) : header;
  }
  const colon = header.lastIndexOf(':');
  return colon > 0 ? header.slice(0, colon) : header;
}

class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly ping: NodeJS.Timeout;

  constructor() {
    this.ping = setInterval(() => {
      for (const c of this.clients) c.write(': ping\n\n');
    }, 15_000);
    this.ping.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  add(req: IncomingMessage, res: ServerResponse, hello: unknown): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    res.write(frame('hello', hello));
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
    };
    req.on('close', drop);
    res.on('error', drop);
  }

  broadcast(name: LiveEventName, payload: unknown): void {
    if (this.clients.size === 0) return;
    const text = frame(name, payload);
    for (const c of this.clients) {
      // a client that stopped reading is dropped rather than buffered without bound
      if (c.writableLength > 16 << 20) {
        c.destroy();
        this.clients.delete(c);
        continue;
      }
      c.write(text);
    }
  }

  close(): void {
    clearInterval(this.ping);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function frame(name: string, payload: unknown): string {
  const data = JSON.stringify(payload, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
  return `event: ${name}\ndata: ${data}\n\n`;
}

function finiteArray(a: ArrayLike<number>): Array<number | null> {
  return Array.from(a, (v) => (Number.isFinite(v) ? v : null));
}

/** Starts the viewer: the LiveView's pump and the HTTP server. */
export async function startViewer(opts: ViewerOptions): Promise<Viewer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port must be an integer in 0–65535, got ${port}`, { field: '--port' });
  const imageIntervalMs = opts.imageIntervalMs ?? 400;
  const allowed = new SourceAllowList(opts.sources, opts.allowFolders ?? []);
  const files = loadStatic();
  const live = new LiveView(opts);
  const hub = new SseHub();
  live.onEvent((name, payload) => hub.broadcast(name, payload));
  const loopbackOnly = isLoopbackHost(host);

  const snapshot = (): unknown => ({
    config: { imageIntervalMs, imageKinds: IMAGE_KINDS },
    status: live.status(),
    rois: live.roiState(),
    geometry: live.geometryState(),
    steps: live.steps(),
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://viewer.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (loopbackOnly) {
      const h = req.headers.host;
      if (h === undefined || !isLoopbackHost(hostName(h))) throw new HttpError(403, `this viewer answers only requests for a loopback host, not '${h ?? ''}'`);
    }
    const stat = STATIC_FILES[path];
    if (stat !== undefined) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} ${path} is not supported`);
      const body = files.get(stat.file) as Buffer;
      res.setHeader('Content-Security-Policy', CSP);
      res.setHeader('Referrer-Policy', 'no-referrer');
      sendText(res, 200, stat.type, body);
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204, { 'Cache-Control': 'max-age=86400' });
      res.end();
      return;
    }
    if (!path.startsWith('/api/')) throw new HttpError(404, `no such page: ${path}`);
    if (method === 'POST') {
      const ct = req.headers['content-type'] ?? '';
      if (!/^application\/json\b/i.test(ct)) throw new HttpError(415, `POST ${path} needs Content-Type: application/json, got '${ct}'`);
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null' && origin !== `http://${req.headers.host ?? ''}`) throw new HttpError(403, `POST from another origin (${origin}) refused`);
      const text = await readBody(req);
      await post(path, text, res);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} ${path} is not supported`);
    switch (path) {
      case '/api/events':
        hub.add(req, res, snapshot());
        return;
      case '/api/status':
        sendJson(res, 200, live.status());
        return;
      case '/api/config':
        sendJson(res, 200, { imageIntervalMs, imageKinds: IMAGE_KINDS });
        return;
      case '/api/image': {
        const kind = (url.searchParams.get('kind') ?? 'sum') as ImageKind;
        if (!IMAGE_KINDS.includes(kind)) throw new HttpError(400, `unknown image kind '${kind}' (one of ${IMAGE_KINDS.join(', ')})`);
        const { version, payload } = live.image(kind);
        if (payload === null) {
          res.writeHead(204, { 'Cache-Control': 'no-store', 'X-Diffract-Version': String(version) });
          res.end();
          return;
        }
        sendBinary(res, payload.data, {
          'X-Diffract-Kind': kind,
          'X-Diffract-Rows': String(payload.rows),
          'X-Diffract-Cols': String(payload.cols),
          'X-Diffract-Row0': String(payload.row0),
          'X-Diffract-Col0': String(payload.col0),
          'X-Diffract-Frames': String(payload.frames),
          'X-Diffract-Version': String(version),
        });
        return;
      }
      case '/api/rings': {
        const r = live.rings();
        if (r === null) {
          res.writeHead(204, { 'Cache-Control': 'no-store' });
          res.end();
          return;
        }
        sendBinary(res, r.overlay, { 'X-Diffract-Rows': String(r.shape[0]), 'X-Diffract-Cols': String(r.shape[1]), 'X-Diffract-Version': String(r.version) });
        return;
      }
      case '/api/histogram':
        sendJson(res, 200, live.histogram());
        return;
      case '/api/rois':
        sendJson(res, 200, live.roiState());
        return;
      case '/api/steps':
        sendJson(res, 200, live.steps());
        return;
      case '/api/geometry':
        sendJson(res, 200, live.geometryState());
        return;
      case '/api/integration': {
        const r = await live.integrate();
        sendJson(res, 200, { unit: r.unit, radial: finiteArray(r.radial), intensity: finiteArray(r.intensity), sigma: finiteArray(r.sigma), count: Array.from(r.count), frames: r.frames, backend: r.backend });
        return;
      }
      default:
        throw new HttpError(404, `no such API: ${path}`);
    }
  }

  async function post(path: string, text: string, res: ServerResponse): Promise<void> {
    switch (path) {
      case '/api/rois':
        // parseRoisJson gives the precise message (which ROI, which field)
        sendJson(res, 200, await live.setRoisJson(text));
        return;
      case '/api/geometry':
        sendJson(res, 200, await live.setGeometry(parseJsonBody(text, 'geometry')));
        return;
      case '/api/control': {
        const body = parseJsonBody(text, 'control');
        const action = isPlainObject(body) ? body.action : undefined;
        if (action === 'start') await live.setAccumulating(true);
        else if (action === 'stop') await live.setAccumulating(false);
        else if (action === 'reset') await live.resetAccumulation();
        else if (action === 'replay') await live.restart();
        else throw new HttpError(400, `control: action must be one of start, stop, reset, replay; got ${JSON.stringify(action ?? null)}`);
        sendJson(res, 200, live.status());
        return;
      }
      case '/api/source': {
        const body = parseJsonBody(text, 'source');
        const raw = isPlainObject(body) ? (body.sources ?? (body.source !== undefined ? [body.source] : undefined)) : undefined;
        if (!Array.isArray(raw) || raw.length === 0 || !raw.every((s): s is string => typeof s === 'string')) {
          throw new HttpError(400, 'source: expected {"sources": ["FILE.cbors.gz", …]} or {"source": "…"}');
        }
        allowed.check(raw);
        await live.restart(raw);
        sendJson(res, 200, live.status());
        return;
      }
      default:
        throw new HttpError(404, `no such API: POST ${path}`);
    }
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const r = errorReply(err);
      if (r.internal) log('error', `viewer: ${req.method ?? ''} ${req.url ?? ''}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      else log('debug', `viewer: ${req.method ?? ''} ${req.url ?? ''} → ${r.status}: ${r.body.error}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, r.status, r.body);
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolvePromise, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') reject(new UsageError(`port ${port} on ${host} is in use: pick another with --port (0 = any free port)`, { field: '--port' }));
      else if (err.code === 'EACCES') reject(new UsageError(`no permission to listen on ${host}:${port}`, { field: '--port' }));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new UsageError(`cannot listen on host '${host}': ${err.code}`, { field: '--host' }));
      else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolvePromise();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  }).catch(async (err: unknown) => {
    await live.close();
    hub.close();
    throw err;
  });
  server.on('error', (err) => log('error', `viewer: server error: ${err.message}`));
  if (!loopbackOnly) log('warn', `the viewer listens on ${host}: anyone who can reach this address can see the data and drive the viewer`);

  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  live.start();
  let closing: Promise<void> | null = null;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    host: addr.address,
    port: addr.port,
    live,
    close() {
      closing ??= (async () => {
        await live.close();
        hub.close();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
