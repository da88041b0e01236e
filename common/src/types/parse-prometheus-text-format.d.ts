// The package ships no types. This covers what it returns for counters, gauges and untyped samples, the only
// kinds the queue server exposes; summaries and histograms are left out on purpose.
declare module 'parse-prometheus-text-format' {
  interface ParsedSample {
    /** The sample's value as written in the text: "3", "NaN", "+Inf". */
    value: string;
    labels?: Record<string, string>;
    timestamp_ms?: string;
  }
  interface ParsedFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'UNTYPED' | 'SUMMARY' | 'HISTOGRAM';
    metrics: ParsedSample[];
  }
  /** Throws InvalidLineError ("Encountered invalid line: ...") on a line that is not Prometheus text. */
  function parsePrometheusTextFormat(text: string): ParsedFamily[];
  export = parsePrometheusTextFormat;
}
