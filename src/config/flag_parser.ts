/**
 * Command-line flags described once, as zod schemas with a help line each: the same table
 * parses `--flag value` arguments, reads `PHASEKV_FLAG` environment variables, and writes the
 * `--help` text, so a flag is one entry wherever it is used.
 * @module
 */
import { parseArgs } from "node:util";
import type { z } from "zod";

/** One flag: how its text is checked and converted, and what `--help` says about it. */
export interface Flag<T> {
  /** Parses the text given (a string, strings for `multiple`, a boolean for a switch). */
  schema: z.ZodType<T>;
  /** One line for `--help`. */
  help: string;
  /** Placeholder for the value in `--help` (`D`, `BYTES`); absent for a boolean switch. */
  value?: string;
  /** The flag may be repeated; its values arrive as a list (comma-separated in a variable). */
  multiple?: boolean;
  /** What `--help` shows as the default when the schema's own default says too little. */
  defaultText?: string;
}

/** Flags by their command-line name (`kv-cache-dtype`). */
export type FlagTable = Record<string, Flag<unknown>>;

/** `kv-cache-dtype` → `kvCacheDtype`. */
export type CamelCase<S extends string> = S extends `${infer H}-${infer T}`
  ? `${H}${Capitalize<CamelCase<T>>}`
  : S;

/** The parsed value of one flag. */
export type FlagValue<F> = F extends Flag<infer V> ? V : never;

/** The parsed values of a table, keyed by the camel-cased flag names; unset ones optional. */
export type FlagValues<T extends FlagTable> = Flatten<
  & {
    [K in keyof T & string as undefined extends FlagValue<T[K]> ? never : CamelCase<K>]: FlagValue<
      T[K]
    >;
  }
  & {
    [K in keyof T & string as undefined extends FlagValue<T[K]> ? CamelCase<K> : never]?: FlagValue<
      T[K]
    >;
  }
>;

/** An intersection as one object type. */
export type Flatten<T> = { [K in keyof T]: T[K] };

/** A flag or variable with a bad value, or an unknown flag; names it as the user spelled it. */
export class FlagError extends TypeError {
  /** `flag` is `--kv-cache-dtype` or `PHASEKV_KV_CACHE_DTYPE`. */
  constructor(readonly flag: string, detail: string) {
    super(`${flag}: ${detail}`);
    this.name = "FlagError";
  }
}

/** A flag's string value, a value list, or a switch. */
export function flag<T>(
  schema: z.ZodType<T>,
  help: string,
  more: Omit<Flag<T>, "schema" | "help"> = {},
): Flag<T> {
  return { schema, help, ...more };
}

/** The camel-cased key of a flag name. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The environment variable of a flag: `kv-cache-dtype` → `PHASEKV_KV_CACHE_DTYPE`. */
export function envName(name: string): string {
  return `PHASEKV_${name.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Parses `args` against `table`; null when `--help` or `-h` was given. Throws FlagError naming
 * an unknown flag, a missing value, or a value its schema rejects.
 */
export function parseFlags<T extends FlagTable>(
  table: T,
  args: readonly string[],
): FlagValues<T> | null {
  const options: Record<
    string,
    { type: "string" | "boolean"; multiple?: boolean; short?: string }
  > = { help: { type: "boolean", short: "h" } };
  for (const [name, f] of Object.entries(table)) {
    options[name] = { type: f.value === undefined ? "boolean" : "string", multiple: !!f.multiple };
  }
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // node:util quotes the unknown or malformed option in its message
    const message = (error as Error).message;
    throw new FlagError(/'(--?[\w-]+)/.exec(message)?.[1] ?? "arguments", message);
  }
  if (values.help) return null;
  return validate(table, values, (name) => `--${name}`);
}

/** Reads each flag of `table` from its `PHASEKV_*` variable; lists are comma-separated. */
export function flagsFromEnv<T extends FlagTable>(
  table: T,
  get: (name: string) => string | undefined,
): FlagValues<T> {
  const values: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(table)) {
    const text = get(envName(name));
    if (text === undefined || text === "") continue;
    if (f.multiple) values[name] = text.split(",").map((s) => s.trim()).filter(Boolean);
    else if (f.value === undefined) {
      values[name] = switchValue(text, envName(name));
    } else values[name] = text;
  }
  return validate(table, values, envName);
}

/** The `--help` text: a usage line, an optional paragraph, then one line per flag. */
export function usageText<T extends FlagTable>(usage: string, table: T, about = ""): string {
  const rows = Object.entries(table).map(([name, f]) => {
    const left = `--${name}${f.value === undefined ? "" : ` ${f.value}`}`;
    const def = f.defaultText ?? defaultOf(f);
    return [left, def === undefined ? f.help : `${f.help} (default ${def})`];
  });
  rows.push(["-h, --help", "show this help"]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = rows.map(([left, help]) => `  ${left.padEnd(width)}${help}`);
  return [`Usage: ${usage}`, ...(about ? ["", about] : []), "", ...lines].join("\n");
}

/** The tables merged; a name in two of them is a programming error. */
export function mergeFlags<A extends FlagTable, B extends FlagTable>(a: A, b: B): A & B {
  for (const name of Object.keys(b)) {
    if (name in a) throw new Error(`Flag --${name} is defined twice`);
  }
  return { ...a, ...b };
}

/** The table without some flags (a command that does not take them). */
export function omitFlags<T extends FlagTable, K extends keyof T & string>(
  table: T,
  names: readonly K[],
): Omit<T, K> {
  const out: FlagTable = { ...table };
  for (const name of names) delete out[name];
  return out as Omit<T, K>;
}

function defaultOf(f: Flag<unknown>): string | undefined {
  if (f.value === undefined) return undefined;
  const parsed = f.schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return undefined;
  const v = parsed.data;
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.join(",");
  return String(v);
}

function validate<T extends FlagTable>(
  table: T,
  given: Record<string, unknown>,
  spell: (name: string) => string,
): FlagValues<T> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(table)) {
    const parsed = f.schema.safeParse(given[name]);
    if (!parsed.success) {
      const text = given[name];
      const got = typeof text === "string" && !parsed.error.issues[0].message.includes(text)
        ? ` (got "${text}")`
        : "";
      throw new FlagError(spell(name), parsed.error.issues[0].message + got);
    }
    if (parsed.data !== undefined) out[camelCase(name)] = parsed.data;
  }
  return out as FlagValues<T>;
}

/** A switch's variable: 1, true or yes turn it on; 0, false or no off; anything else is refused. */
function switchValue(text: string, variable: string): boolean {
  const t = text.trim().toLowerCase();
  if (["1", "true", "yes"].includes(t)) return true;
  if (["0", "false", "no"].includes(t)) return false;
  throw new FlagError(variable, `expected 1, true, 0 or false, got "${text}"`);
}
