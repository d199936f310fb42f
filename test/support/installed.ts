import assert from "node:assert/strict"
import type { TestContext } from "node:test"

/**
 * Whether a test may run: a tool it needs is installed. Off CI a missing tool is a skip that says how to get it; on
 * CI (`CI` set) `.ci/run` installs every tool the suite needs, so a missing one fails the test instead of letting a
 * green run say it tested what it did not.
 */
export const installed = (t: TestContext, present: boolean, what: string, install: string): boolean => {
  if (present) return true
  if (process.env.CI) assert.fail(`${what} is not installed, and on CI every test runs (${install})`)
  t.skip(`${what} is not installed (${install})`)
  return false
}
