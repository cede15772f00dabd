/** The process's peak resident set size so far (all threads), in MiB — for end summaries and the benchmark. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
