/**
 * Reads /metrics the way Prometheus would: the text is parsed by a real Prometheus text-format
 * parser from npm (parse-prometheus-text-format), so a malformed exposition fails the test.
 * @module
 */
import parsePrometheus from "parse-prometheus-text-format";

/** One metric family as the parser returns it. */
export interface MetricFamily {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

/** Every family of a Prometheus text exposition; throws on text the parser rejects. */
export function parseMetrics(text: string): MetricFamily[] {
  return parsePrometheus(text) as MetricFamily[];
}

/**
 * The value of family `name`'s sample whose labels include `labels` (a histogram's value is its
 * count), or undefined when there is none.
 */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = parseMetrics(text).find((f) => f.name === name);
  const sample = family?.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  if (!sample) return undefined;
  const value = sample.value ?? sample.count ?? sample.buckets?.["+Inf"];
  return value === undefined ? undefined : Number(value);
}
