/**
 * Small node:http helpers for the viewer: JSON and binary replies, a bounded
 * JSON body reader, and the error → status mapping (a user error is a 400 with
 * its message; anything else a 500 that is logged, never a crash).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DiffractError } from '../errors.ts';

/** A reply with a status other than 200, and the message the page shows. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
  }
}

/** The JSON body of an error reply. */
export interface ErrorBody {
  error: string;
  kind?: string;
  field?: string;
}

export const MAX_BODY_BYTES = 1 << 20;

const NO_STORE = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
  res.writeHead(status, { ...NO_STORE, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendBinary(res: ServerResponse, data: ArrayBufferView, headers: Record<string, string>): void {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  res.writeHead(200, { ...NO_STORE, ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': buf.byteLength });
  res.end(buf);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string | Buffer): void {
  const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  res.writeHead(status, { ...NO_STORE, 'Content-Type': contentType, 'Content-Length': buf.byteLength });
  res.end(buf);
}

/** Maps a thrown value to an HTTP status and JSON body. `internal` is true for bugs (logged with their stack). */
export function errorReply(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof HttpError) return { status: err.status, body: { error: err.message }, internal: false };
  if (err instanceof DiffractError) {
    const body: ErrorBody = { error: err.message, kind: err.kind };
    if (err.field !== undefined) body.field = err.field;
    return { status: 400, body, internal: false };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { error: `internal error in the viewer (please report): ${message}` }, internal: true };
}

/** Reads the request body as UTF-8 text, refusing more than `limit` bytes (413). */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, `request body of ${declared} bytes is over the limit of ${limit}`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.byteLength;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, `request body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolvePromise(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}

/** Parses a JSON request body; malformed JSON is a 400 naming the parse error. */
export function parseJsonBody(text: string, what: string): unknown {
  if (text.trim() === '') throw new HttpError(400, `${what}: empty request body (expected JSON)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `${what}: request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
