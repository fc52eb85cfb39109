/** Plain-text tables for terminal reports: the first column aligned left and the others right, unless `align` says. */
export function table(header: string[], rows: (string | number)[][], align?: readonly ('left' | 'right')[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const left = (i: number) => (align?.[i] ?? (i === 0 ? 'left' : 'right')) === 'left';
  const line = (r: string[]) => r.map((c, i) => (left(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  return [line(cells[0]!), w.map((x) => '-'.repeat(x)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A compact number for error columns: 3 significant digits, '-' when absent. */
export function sci(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  return x.toExponential(2);
}
