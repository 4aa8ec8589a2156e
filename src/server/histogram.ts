/**
 * A cumulative Prometheus histogram with fixed bucket edges.
 * @module
 */
import { family, type Labels } from "./prometheus.ts";

/** Counts observations into buckets `le` each edge, plus their sum and count. */
export class Histogram {
  readonly #edges: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** Creates an empty histogram; `edges` must ascend. */
  constructor(edges: readonly number[]) {
    this.#edges = edges;
    this.#counts = edges.map(() => 0);
  }

  /** Number of observations so far. */
  get count(): number {
    return this.#count;
  }

  /** Records one value. */
  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    const i = this.#edges.findIndex((edge) => value <= edge);
    if (i >= 0) this.#counts[i]++;
  }

  /** Exposition lines of the histogram as family `name`, every sample carrying `labels`. */
  render(name: string, help: string, labels: Labels = {}): string[] {
    let cumulative = 0;
    const buckets = this.#edges.map((edge, i) => {
      cumulative += this.#counts[i];
      return { suffix: "_bucket", labels: { ...labels, le: String(edge) }, value: cumulative };
    });
    return family(name, "histogram", help, [
      ...buckets,
      { suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: this.#count },
      { suffix: "_sum", labels, value: this.#sum },
      { suffix: "_count", labels, value: this.#count },
    ]);
  }
}
