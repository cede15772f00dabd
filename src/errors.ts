/**
 * Error types. As in DIALS, user errors (bad input, bad settings: `Sorry`) are
 * kept apart from programmer errors (failed assertions). The CLI prints a user
 * error as one line and exits non-zero; anything else is a bug and keeps its
 * stack trace.
 */

/** Where in the input a problem was found. Every field is optional; name what you know. */
export interface ErrorLocation {
  /** the file (path as the user gave it) */
  file?: string;
  /** the frame or image index (0-based within the file or series, say which in the message) */
  frame?: number;
  /** the header key, JSON path, column or config key */
  field?: string;
}

/** Base of every error that the user can fix by changing the input or the settings. */
export class DiffractError extends Error {
  readonly file: string | undefined;
  readonly frame: number | undefined;
  readonly field: string | undefined;
  /** a short machine-readable kind, e.g. 'format', 'truncated', 'missing-field' */
  readonly kind: string;

  constructor(kind: string, message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(DiffractError.compose(message, where), options);
    this.name = new.target.name;
    this.kind = kind;
    this.file = where.file;
    this.frame = where.frame;
    this.field = where.field;
  }

  private static compose(message: string, where: ErrorLocation): string {
    const parts: string[] = [];
    if (where.file !== undefined) parts.push(where.file);
    if (where.frame !== undefined) parts.push(`frame ${where.frame}`);
    if (where.field !== undefined) parts.push(`field '${where.field}'`);
    return parts.length > 0 ? `${parts.join(', ')}: ${message}` : message;
  }
}

/** The bytes of a file do not follow its format (garbled header, bad compression, wrong size). */
export class FormatError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('format', message, where, options);
  }
}

/** The file ends before the format says it should. */
export class TruncatedError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('truncated', message, where, options);
  }
}

/** A required field, key or column is absent. */
export class MissingFieldError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('missing-field', message, where, options);
  }
}

/** A value is present but unusable (wrong type, out of range, inconsistent with another). */
export class InvalidValueError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('invalid-value', message, where, options);
  }
}

/** A file could not be opened, read or written. */
export class FileAccessError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('file-access', message, where, options);
  }
}

/** A command-line or configuration setting is wrong. */
export class UsageError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('usage', message, where, options);
  }
}

/** The GPU could not do what was asked (no adapter, device lost, validation error in a kernel). */
export class GpuError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('gpu', message, where, options);
  }
}

/** Programmer error: an invariant of the code itself does not hold. Never caught for the user. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`internal invariant failed: ${message}`);
}

/** The GPU device was lost (driver reset, hang, or destroyed): work continues on the CPU path. */
export class DeviceLostError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('device-lost', message, where, options);
  }
}

/** The shards of a sharded run left units of work undone (a task failed, was killed, or never ran): the combine step names them. */
export class IncompleteShardsError extends DiffractError {
  constructor(message: string, where: ErrorLocation = {}, options?: { cause?: unknown }) {
    super('incomplete-shards', message, where, options);
  }
}
