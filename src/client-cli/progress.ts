type Output = { write(text: string): unknown; isTTY?: boolean; columns?: number };

const BAR_WIDTH = 24;

/**
 * Progress of background work on stderr. On a terminal one line redrawn in place; otherwise (a log,
 * a pipe) a plain line when the state changes, at most one every `minIntervalMs`, so logs stay short.
 */
export class Progress {
  private lastLine: string | null = null;
  /** A changed state held back by the interval, printed by the next update or by finish(). */
  private pending: string | null = null;
  private lastPrintedAt = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly output: Output = process.stderr,
    private readonly minIntervalMs = 3000,
    private readonly now: () => number = Date.now,
  ) {}

  update(done: number, total: number, detail: string): void {
    const count = `${done}/${total}`;
    if (this.output.isTTY) {
      const ratio = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(ratio * BAR_WIDTH);
      const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
      let line = `${this.label} ${bar} ${count} ${Math.round(ratio * 100)}% ${detail}`;
      const width = this.output.columns ?? 80;
      if (line.length > width - 1) line = line.slice(0, width - 1);
      this.output.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const line = `${this.label}: ${count} ${detail}`;
    if (line === this.lastLine) return;
    const at = this.now();
    if (this.lastLine !== null && at - this.lastPrintedAt < this.minIntervalMs) {
      this.pending = line;
      return;
    }
    this.print(line, at);
  }

  /** Ends the bar (a terminal gets its newline; a log gets the last state if it was held back). */
  finish(): void {
    if (this.output.isTTY) {
      if (this.drawn) this.output.write("\n");
      this.drawn = false;
      return;
    }
    if (this.pending !== null && this.pending !== this.lastLine) this.print(this.pending, this.now());
    this.pending = null;
  }

  private print(line: string, at: number): void {
    this.output.write(`${line}\n`);
    this.lastLine = line;
    this.lastPrintedAt = at;
    this.pending = null;
  }
}
