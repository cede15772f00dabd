/**
 * Maps stage settings back to the flags that set them, for errors: a stage
 * names the setting it rejects (`filter.maxCount must be …`); the user typed
 * `--max-count`, so the CLI rewrites the message to name the flag.
 */
import { UsageError } from '../errors.ts';
import { SettingError } from '../stages/settings-check.ts';

/** setting path → flag */
export type FlagNames = Readonly<Record<string, string>>;

/** Runs `fn` (a stage's settings check), turning a SettingError on a mapped setting into a usage error naming the flag. */
export function checkAsFlags<T>(flags: FlagNames, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const flag = err instanceof SettingError ? flags[err.setting] : undefined;
    if (err instanceof SettingError && flag !== undefined) {
      const detail = err.detail.replaceAll(/\b[a-z]+\.[A-Za-z.]+\b/g, (m) => flags[m] ?? m);
      throw new UsageError(`${flag} ${detail}, got '${Array.isArray(err.value) ? err.value.join(',') : String(err.value)}'`, { field: flag }, { cause: err });
    }
    throw err;
  }
}

/** The number a flag's text holds (any finite number; ranges are the stage's to check). */
export function flagNumber(text: string, flag: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${flag} must be a number, got '${text}'`, { field: flag });
  return v;
}

/** A comma-separated list of numbers of a given length (or any length ≥ 1). */
export function flagNumbers(text: string, flag: string, count?: number): number[] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  const v = parts.map(Number);
  if ((count !== undefined ? v.length !== count : v.length === 0) || v.some((x) => !Number.isFinite(x))) {
    throw new UsageError(`${flag} expects ${count !== undefined ? `${count} comma-separated numbers` : 'comma-separated numbers'}, got '${text}'`, { field: flag });
  }
  return v;
}
