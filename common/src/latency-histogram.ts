// Latency histograms in microseconds (hdr-histogram-js), one setting for every load driver. Workers
// encode theirs; the main thread decodes and adds them, so percentiles come from one merged histogram,
// never from averaged ones.
import hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

const BIT_BUCKET_SIZE = 32;

export function newHistogram(): Histogram {
  // 3 significant digits up to 120 s: SYN retries at 10k clients reach several seconds.
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: BIT_BUCKET_SIZE,
    useWebAssembly: false,
  });
}

export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeInto(into: Histogram, encoded: string): void {
  const h = hdr.decodeFromCompressedBase64(encoded, BIT_BUCKET_SIZE, false);
  into.add(h);
  h.destroy();
}
