/**
 * Checks of typed stage settings. A failed check is a `SettingError` naming
 * the SETTING (e.g. `filter.maxCount`), never a command-line flag: the CLI
 * maps its flags to settings and rewrites these errors to name the flag the
 * user typed (src/cli/settings-flags.ts); the runner's config keys are checked
 * by the config schema before any stage runs.
 */
import { UsageError } from '../errors.ts';

export class SettingError extends UsageError {
  /** `<setting> <detail>, got <value>` */
  constructor(
    readonly setting: string,
    readonly detail: string,
    readonly value: unknown,
  ) {
    super(`${setting} ${detail}, got ${shown(value)}`, { field: setting });
  }
}

function shown(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `'${v.join(',')}'`;
  return `'${String(v)}'`;
}

/** An integer in min…max. */
export function checkInt(v: number, setting: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new SettingError(setting, max === Number.MAX_SAFE_INTEGER ? `must be an integer ≥ ${min}` : `must be an integer ${min}…${max}`, v);
  return v;
}

/** A finite number > 0. */
export function checkPositive(v: number, setting: string): number {
  if (!Number.isFinite(v) || v <= 0) throw new SettingError(setting, 'must be a positive number', v);
  return v;
}

/** A finite number. */
export function checkFinite(v: number, setting: string): number {
  if (!Number.isFinite(v)) throw new SettingError(setting, 'must be a finite number', v);
  return v;
}

/** A finite number in [lo, hi] (or [lo, hi) with `openHigh`). */
export function checkRange(v: number, setting: string, lo: number, hi: number, want: string, openHigh = false): number {
  if (!Number.isFinite(v) || v < lo || (openHigh ? v >= hi : v > hi)) throw new SettingError(setting, `must be ${want}`, v);
  return v;
}

/** One of `choices`. */
export function checkOneOf<T extends string>(v: string, setting: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) throw new SettingError(setting, `must be ${choices.slice(0, -1).join(', ')}${choices.length > 1 ? ' or ' : ''}${choices[choices.length - 1] ?? ''}`, v);
  return v as T;
}
