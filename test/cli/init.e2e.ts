import { Effect } from "effect"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, it } from "node:test"
import { loadConfig } from "../../core/config/Config.ts"
import { configLeaves } from "../../core/config/ConfigSpec.ts"
import { readTextFile } from "../../runtimes/shared.ts"
import { run, userEnv } from "./run.ts"

describe("isartor init", () => {
  it("writes every key with its default; uncommented, the file loads as exactly the defaults", async () => {
    const user = userEnv()
    try {
      const written = await run(["init"], user.env)
      assert.equal(written.code, 0, written.stderr)
      const text = readFileSync(join(user.home, "isartor.toml"), "utf8")
      for (const [path] of configLeaves()) assert.match(text, new RegExp(`^# ${path.at(-1)} = `, "m"), path.join("."))
      // Uncomment every setting: the values must be the defaults, in valid TOML, with no unknown key. A key unset by
      // default shows an example instead (checked below), so it stays commented here.
      const unset = new Set(
        configLeaves().filter(([, leaf]) => leaf.example !== undefined).map(([path]) => path.at(-1))
      )
      const uncommented = text.replace(
        /^# ([a-z0-9_]+) = (.*)$/gm,
        (line, key: string, value: string) => unset.has(key) ? line : `${key} = ${value}`
      )
      const file = join(user.home, "all.toml")
      writeFileSync(file, uncommented)
      const fromFile = await Effect.runPromise(
        loadConfig({ env: { ISARTOR__CONFIG_FILE: file }, readTextFile })
      )
      const defaults = await Effect.runPromise(loadConfig({ env: {}, readTextFile: async () => undefined }))
      assert.deepEqual(fromFile.warnings, [])
      assert.equal(fromFile.file, file)
      assert.deepEqual(JSON.stringify(fromFile.config), JSON.stringify(defaults.config))
      // Each example, uncommented alone, is a value the key takes.
      for (const [path, leaf] of configLeaves().filter(([, leaf]) => leaf.example !== undefined)) {
        assert.match(text, new RegExp(`^# \\(unset by default: .*\\n# ${path.at(-1)} = ${leaf.example}$`, "m"))
        writeFileSync(file, `${path.at(-1)} = ${leaf.example}\n`)
        const one = await Effect.runPromise(loadConfig({ env: { ISARTOR__CONFIG_FILE: file }, readTextFile }))
        assert.equal(String((one.config as Record<string, unknown>)[path.at(-1)!]), leaf.example)
      }
    } finally {
      user.cleanup()
    }
  })

  it("refuses to overwrite an existing file (exit 1, file untouched) unless --force", async () => {
    const user = userEnv()
    try {
      const path = join(user.home, "isartor.toml")
      writeFileSync(path, "cache_mode = \"exact\"\n")
      const refused = await run(["init"], user.env)
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /already exists.*--force/)
      assert.equal(readFileSync(path, "utf8"), "cache_mode = \"exact\"\n")
      const forced = await run(["init", "--force"], user.env)
      assert.equal(forced.code, 0)
      assert.match(readFileSync(path, "utf8"), /# cache_mode = "both"/)
    } finally {
      user.cleanup()
    }
  })
})
