/**
 * The date stamped into written files: SOURCE_DATE_EPOCH (seconds) when set,
 * else a time the inputs fix (their newest modification time), never the wall
 * clock, so that running a command twice on the same inputs writes the same bytes.
 */
export function sourceDate(inputsMtimeMs: number): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000).toISOString();
  return new Date(Math.round(inputsMtimeMs)).toISOString();
}
