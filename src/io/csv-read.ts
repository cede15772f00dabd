/**
 * Reading a small CSV table (RFC 4180: a header line, comma-separated fields,
 * double-quoted fields with "" for a quote; CRLF or LF line ends). Every field
 * stays a string; the caller converts and names what is wrong.
 */
import { FormatError } from '../errors.ts';

export interface CsvTable {
  header: string[];
  /** the data rows; each has header.length fields */
  rows: string[][];
  /** 1-based line number of each data row, for messages */
  lines: number[];
}

function splitLine(line: string, file: string, lineNo: number): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new FormatError(`line ${lineNo}: a quoted field has no closing quote`, { file });
        const ch = line[i]!;
        if (ch === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += ch;
        i++;
      }
      if (i < line.length && line[i] !== ',') throw new FormatError(`line ${lineNo}: text after a quoted field`, { file });
    } else {
      const j = line.indexOf(',', i);
      field = j < 0 ? line.slice(i) : line.slice(i, j);
      i = j < 0 ? line.length : j;
    }
    out.push(field.trim());
    if (i >= line.length) return out;
    i++; // the comma
  }
}

/** Parses CSV text (blank lines skipped); `file` names it in messages. */
export function parseCsv(text: string, file: string): CsvTable {
  const all = text.split(/\r?\n/);
  let h = 0;
  while (h < all.length && all[h]!.trim() === '') h++;
  if (h >= all.length) throw new FormatError('the CSV file is empty (no header line)', { file });
  const header = splitLine(all[h]!, file, h + 1);
  const rows: string[][] = [];
  const lines: number[] = [];
  for (let j = h + 1; j < all.length; j++) {
    const line = all[j]!;
    if (line.trim() === '') continue;
    const f = splitLine(line, file, j + 1);
    if (f.length !== header.length) throw new FormatError(`line ${j + 1}: ${f.length} fields, the header has ${header.length}`, { file });
    rows.push(f);
    lines.push(j + 1);
  }
  return { header, rows, lines };
}
