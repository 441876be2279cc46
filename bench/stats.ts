// Small statistics helpers shared by the orchestrator and the workers.

/** The q-quantile (0..1) of the values, nearest-rank on a sorted copy. NaN for no values. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  const rank = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return sorted[rank]!;
}

/** Median (mean of the two middle values for an even count). NaN for no values. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length ? s / values.length : NaN;
}

/** Samples RSS every `intervalMs` while running. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  peak = 0;
  private sum = 0;
  private count = 0;

  start(intervalMs = 50): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    return this;
  }

  private sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
    this.sum += rss;
    this.count++;
  }

  stop(): { peakMB: number; avgMB: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return { peakMB: this.peak / 2 ** 20, avgMB: this.sum / this.count / 2 ** 20, samples: this.count };
  }
}

/** Process CPU time (user+system) over wall time, in percent of one core, between start() and stop(). */
export class CpuMeter {
  private cpu0 = process.cpuUsage();
  private t0 = process.hrtime.bigint();

  start(): this {
    this.cpu0 = process.cpuUsage();
    this.t0 = process.hrtime.bigint();
    return this;
  }

  stop(): { cpuPct: number; cpuMs: number; wallMs: number } {
    const d = process.cpuUsage(this.cpu0);
    const wallUs = Number(process.hrtime.bigint() - this.t0) / 1000;
    const cpuUs = d.user + d.system;
    return { cpuPct: (100 * cpuUs) / wallUs, cpuMs: cpuUs / 1000, wallMs: wallUs / 1000 };
  }
}

export const MB = 2 ** 20;
