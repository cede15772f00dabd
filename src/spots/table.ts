/** Result tables: named columns of numbers or strings, written as CSV or JSON records. */

export type Cell = number | string | null;

export interface Table {
  /** file stem, e.g. 'pairs' */
  name: string;
  /** one line saying what a row is */
  description: string;
  columns: string[];
  rows: Cell[][];
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '';
  if (Number.isInteger(v)) return String(v);
  const s = v.toPrecision(7);
  // drop trailing zeros of a plain decimal, keep exponent forms as they are
  return s.includes('e') ? s : s.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

function csvField(c: Cell): string {
  if (c === null) return '';
  if (typeof c === 'number') return formatNumber(c);
  return /[",\n\r]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c;
}

/** RFC 4180 CSV with a header line; NaN and null become empty fields. */
export function toCsv(t: Table): string {
  const lines = [t.columns.map(csvField).join(',')];
  for (const row of t.rows) lines.push(row.map(csvField).join(','));
  return `${lines.join('\n')}\n`;
}

/** JSON-ready records; NaN and ±Infinity become null. */
export function toRecords(t: Table): Record<string, Cell>[] {
  return t.rows.map((row) => {
    const rec: Record<string, Cell> = {};
    t.columns.forEach((c, i) => {
      const v = row[i] ?? null;
      rec[c] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
    });
    return rec;
  });
}

/** JSON.stringify replacer turning non-finite numbers into null (JSON has no NaN). */
export function finiteReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}
