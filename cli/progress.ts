/** A one-line progress bar with rate and ETA (redrawn in place on a terminal, one line per update otherwise). */
export class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastTenth = 0;
  constructor(private readonly label: string, private readonly total: number, private readonly unit = 'it', private readonly out: NodeJS.WriteStream = process.stderr) {}

  update(done: number, extra = ''): void {
    const now = Date.now();
    // Off a terminal: one line per tenth of the way, whichever update crosses it (throttling must not skip one).
    const tenth = Math.floor((10 * done) / Math.max(this.total, 1));
    if (!this.out.isTTY) {
      if (tenth <= this.lastTenth && done < this.total) return;
      this.lastTenth = tenth;
    } else if (done < this.total && now - this.lastDraw < 250) return;
    this.lastDraw = now;
    const secs = (now - this.start) / 1000;
    // Under a tenth of a second there is no rate to speak of yet.
    const rate = secs >= 0.1 ? done / secs : NaN;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const width = 24;
    const filled = Math.round((width * done) / Math.max(this.total, 1));
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${Number.isNaN(rate) ? '-' : rate.toFixed(1)} ${this.unit}/s ETA ${fmtSecs(eta)}${extra ? `  ${extra}` : ''}`;
    if (this.out.isTTY) this.out.write(`\r${line}\x1b[K${done >= this.total ? '\n' : ''}`);
    else this.out.write(`${line}\n`);
  }
}

export function fmtSecs(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
}
