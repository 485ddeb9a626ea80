/**
 * A log-linear latency histogram (HdrHistogram-like): values below 128 have a bucket each, above
 * that every power of two is split into 128 buckets, so a percentile is within 1/128 (0.8 %) of the
 * true value. Buckets are a Float64Array so histograms from worker threads merge by addition.
 */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
export const HISTOGRAM_BUCKETS = (64 - SUB_BITS + 1) << SUB_BITS;
const TWO32 = 4294967296;

function bucketOf(v: number): number {
  if (v < SUB) return v < 0 ? 0 : Math.floor(v);
  const e = v < TWO32 ? 31 - Math.clz32(v) : 63 - Math.clz32(Math.floor(v / TWO32));
  const sub = Math.floor(v / 2 ** (e - SUB_BITS)) & (SUB - 1);
  return ((e - SUB_BITS + 1) << SUB_BITS) + sub;
}

/** The middle of a bucket. */
function valueOf(i: number): number {
  if (i < SUB) return i;
  const block = i >> SUB_BITS;
  const sub = i & (SUB - 1);
  const e = block + SUB_BITS - 1;
  const width = 2 ** (e - SUB_BITS);
  return (SUB + sub) * width + width / 2;
}

export interface HistogramSnapshot {
  buckets: Float64Array;
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Histogram {
  buckets = new Float64Array(HISTOGRAM_BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  add(v: number): void {
    const i = bucketOf(v);
    this.buckets[i] = (this.buckets[i] as number) + 1;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  merge(o: HistogramSnapshot): void {
    if (o.count === 0) return;
    const b = this.buckets;
    const ob = o.buckets;
    for (let i = 0; i < b.length; i++) {
      const x = ob[i] as number;
      if (x !== 0) b[i] = (b[i] as number) + x;
    }
    this.count += o.count;
    this.sum += o.sum;
    if (o.max > this.max) this.max = o.max;
    if (o.min < this.min) this.min = o.min;
  }

  /** The value at quantile q (0..1), clamped to [min, max]; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.max(1, Math.ceil(q * this.count));
    let cum = 0;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      cum += b[i] as number;
      if (cum >= target) return Math.min(this.max, Math.max(this.min, valueOf(i)));
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  snapshot(): HistogramSnapshot {
    return { buckets: this.buckets, count: this.count, sum: this.sum, min: this.min, max: this.max };
  }
}
