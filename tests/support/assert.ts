/**
 * std-style assertions on top of node:assert (jsr's @std/assert is unreachable here).
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Deep, strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Deep, strict inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Truthiness. */
export function assert(value: unknown, msg?: string): asserts value {
  nodeAssert.ok(value, msg);
}

/** String matches a regular expression. */
export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  nodeAssert.match(actual, re, msg);
}

/** String contains a substring. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new nodeAssert.AssertionError({
      message: msg ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
      actual,
      expected,
    });
  }
}

/** The function throws (optionally an error whose message includes `includes`). */
export function assertThrows(fn: () => unknown, includes?: string): Error {
  try {
    fn();
  } catch (err) {
    const e = err as Error;
    if (includes !== undefined) assertStringIncludes(e.message, includes);
    return e;
  }
  throw new nodeAssert.AssertionError({ message: "expected the function to throw" });
}

/** The promise rejects (optionally with a message including `includes`). */
export async function assertRejects(fn: () => Promise<unknown>, includes?: string): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    const e = err as Error;
    if (includes !== undefined) assertStringIncludes(e.message, includes);
    return e;
  }
  throw new nodeAssert.AssertionError({ message: "expected the promise to reject" });
}
