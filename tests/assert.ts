/**
 * The subset of `@std/assert` the tests use, built on `node:assert` because JSR is unreachable
 * here. Point `"@std/assert"` in deno.json at `jsr:@std/assert@^1` where JSR is reachable.
 * @module
 */
import nodeAssert from "node:assert";

/** Asserts that `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts deep inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts `actual` and `expected` differ by at most `tolerance` (default 1e-7). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  const d = Math.abs(actual - expected);
  if (!(d <= tolerance)) {
    throw new nodeAssert.AssertionError({
      message: msg ??
        `Expected actual: "${actual}" to be close to "${expected}": delta "${d}" is greater than "${tolerance}"`,
    });
  }
}

/** Asserts `actual > expected`. */
export function assertGreater(actual: number, expected: number, msg?: string): void {
  nodeAssert.ok(actual > expected, msg ?? `Expected ${actual} > ${expected}`);
}

/** Asserts `actual >= expected`. */
export function assertGreaterOrEqual(actual: number, expected: number, msg?: string): void {
  nodeAssert.ok(actual >= expected, msg ?? `Expected ${actual} >= ${expected}`);
}

/** Asserts `actual < expected`. */
export function assertLess(actual: number, expected: number, msg?: string): void {
  nodeAssert.ok(actual < expected, msg ?? `Expected ${actual} < ${expected}`);
}

/** Asserts `actual <= expected`. */
export function assertLessOrEqual(actual: number, expected: number, msg?: string): void {
  nodeAssert.ok(actual <= expected, msg ?? `Expected ${actual} <= ${expected}`);
}

/** Asserts that `actual` includes `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  nodeAssert.ok(actual.includes(expected), msg ?? `Expected "${actual}" to include "${expected}"`);
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

/** Asserts strict equality (`===`). */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  nodeAssert.strictEqual(actual, expected, msg);
}

/** Asserts that `value` is an instance of `klass`. */
// deno-lint-ignore no-explicit-any
export function assertInstanceOf<T extends abstract new (...args: any[]) => any>(
  value: unknown,
  klass: T,
  msg?: string,
): asserts value is InstanceType<T> {
  nodeAssert.ok(value instanceof klass, msg ?? `Expected instance of ${klass.name}`);
}

/** Always fails: marks code that must be unreachable. */
export function fail(msg?: string): never {
  throw new nodeAssert.AssertionError({ message: msg ?? "Failed assertion" });
}

/** Asserts that `fn` throws (an instance of `klass` when given) and returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  klass?: new (...args: any[]) => E,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (e) {
    checkError(e, klass, msgIncludes);
    return e as E;
  }
  throw new nodeAssert.AssertionError({ message: "Expected function to throw" });
}

/** Asserts that the promise returned by `fn` rejects (with `klass` when given) and returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  klass?: new (...args: any[]) => E,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    checkError(e, klass, msgIncludes);
    return e as E;
  }
  throw new nodeAssert.AssertionError({ message: "Expected promise to reject" });
}

// deno-lint-ignore no-explicit-any
function checkError(e: unknown, klass?: new (...args: any[]) => Error, msgIncludes?: string) {
  if (klass && !(e instanceof klass)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error to be instance of "${klass.name}", got "${
        (e as Error)?.constructor?.name
      }": ${(e as Error)?.message}`,
    });
  }
  if (msgIncludes && !String((e as Error)?.message).includes(msgIncludes)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error message to include "${msgIncludes}", got "${(e as Error)?.message}"`,
    });
  }
}
