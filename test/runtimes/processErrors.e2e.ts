import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { describe, it } from "node:test"
import { projectRoot, runtimeCommand, type RuntimeName } from "../support/processes.ts"

// The gateway owns its process's last-chance handlers: a library's rethrowing handler (installed before the
// gateway's or after) does not end the process, and a stray error is one scrubbed line.
for (const runtime of ["node", "bun", "deno"] satisfies Array<RuntimeName>) {
  describe(`process error handlers: ${runtime}`, () => {
    it("writes an error no request caught as one line without secrets, and keeps running", async () => {
      const [command, ...args] = runtimeCommand(runtime, "test/fixtures/process-errors.ts")
      const child = spawn(command!, args, { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk))
      child.stderr.on("data", (chunk: Buffer) => (output += chunk))
      const [code] = (await once(child, "exit")) as [number | null]
      assert.equal(code, 0, output)
      assert.match(output, /isartor: error outside any request, ignored: Error: stray error quoting \[redacted\]/)
      assert.match(output, /isartor: error outside any request, ignored: Error: stray rejection/)
      assert.doesNotMatch(output, /sk-abcdef/)
      assert.match(output, /still serving/)
    })
  })
}
