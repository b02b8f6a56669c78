/** progress.ts — a download's progress: a bar on a terminal, a line per file otherwise. */
import cliProgress from 'cli-progress';

export function fmtBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** A bar on a terminal, a line per file otherwise (logs, CI, pipes). */
export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private done = 0;
  constructor(
    private readonly id: string,
    private readonly total: number,
    private readonly log: (line: string) => void,
    tty: boolean,
  ) {
    if (tty && total > 0) {
      this.bar = new cliProgress.SingleBar(
        { format: `${id} {file} |{bar}| {percentage}% {got}/{size}`, hideCursor: true, stream: process.stderr, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { file: '', got: fmtBytes(0), size: fmtBytes(total) });
    }
  }
  file(path: string, size: number, from: number, endpoint: string): void {
    if (this.bar) this.bar.update(this.done, { file: path });
    else this.log(from > 0 ? `resuming ${this.id}/${path} at ${fmtBytes(from)} of ${fmtBytes(size)} from ${endpoint}` : `downloading ${this.id}/${path} (${fmtBytes(size)}) from ${endpoint}`);
  }
  add(n: number): void {
    this.done += n;
    this.bar?.update(this.done, { got: fmtBytes(this.done) });
  }
  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
