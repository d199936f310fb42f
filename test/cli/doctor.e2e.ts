import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { chmodSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { projectRoot } from "../support/processes.ts"
import { run, userEnv } from "./run.ts"

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

describe("isartor doctor", () => {
  it("passes a sound setup (exit 0) and reaches the upstream without spending tokens", async () => {
    const user = userEnv(upstreamEnv(upstream.url, { ISARTOR__HOST_PORT: "127.0.0.1:0" }))
    try {
      const calls = upstream.calls.length
      const result = await run(["doctor", "--json"], user.env)
      const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ name: string; verdict: string }> }
      assert.equal(result.code, 0, result.stdout)
      assert.equal(report.ok, true)
      assert.equal(report.checks.find((check) => check.name === "upstream reachable")?.verdict, "ok")
      assert.equal(report.checks.find((check) => check.name === "embedding model")?.verdict, "ok")
      const l1b = report.checks.find((check) => check.name === "L1b settings") as { detail?: string } | undefined
      assert.match(l1b?.detail ?? "", /learned decision .*l1b_score_threshold = .*similarity_threshold unset/)
      assert.equal(upstream.calls.length, calls, "no completion was requested")
    } finally {
      user.cleanup()
    }
  })

  it("fails (exit 1) on a single-underscore variable, an Anthropic key with provider openai, an unreachable upstream, and says how to fix each", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const deadPort = (closed.address() as { port: number }).port
    await new Promise((resolve) => closed.close(resolve))
    const user = userEnv({
      ISARTOR_CACHE_MODE: "exact",
      ISARTOR__EXTERNAL_LLM_API_KEY: "sk-ant-api03-0000000000000000000000",
      ISARTOR__EXTERNAL_LLM_URL: `http://127.0.0.1:${deadPort}/v1`,
      HTTPS_PROXY: "http://localhost:8081",
      ISARTOR__EMBEDDING_MODEL_PATH: "/nonexistent/model",
      ISARTOR__HOST_PORT: "127.0.0.1:0"
    })
    try {
      const result = await run(["doctor"], user.env)
      assert.equal(result.code, 1)
      assert.match(result.stdout, /FAIL {2}variable prefix: ignored \(one underscore\): ISARTOR_CACHE_MODE/)
      assert.match(result.stdout, /fix: rename with two underscores, e\.g\. export ISARTOR__CACHE_MODE=/)
      assert.match(result.stdout, /FAIL {2}provider, URL and key: the API key looks like one issued by anthropic/)
      assert.match(result.stdout, /fix: .*ISARTOR__LLM_PROVIDER=anthropic/)
      assert.match(result.stdout, /FAIL {2}upstream reachable: .*ECONNREFUSED/)
      assert.match(result.stdout, /FAIL {2}embedding model: \/nonexistent\/model does not load/)
      assert.match(result.stdout, /warn {2}proxy variables: HTTPS_PROXY=http:\/\/localhost:8081/)
      assert.match(
        result.stdout,
        /fix: unset HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy; unset NODE_EXTRA_CA_CERTS SSL_CERT_FILE REQUESTS_CA_BUNDLE; unset ISARTOR_COPILOT_ENABLED ISARTOR_ANTIGRAVITY_ENABLED\n/
      )
    } finally {
      user.cleanup()
    }
  })

  it("takes the variables isartor connect exports and reads for its own, and still names a real one-underscore mistake", async () => {
    const user = userEnv(upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact", ISARTOR__HOST_PORT: "127.0.0.1:0" }))
    const prefixCheck = async (env: Record<string, string>) =>
      (JSON.parse((await run(["doctor", "--json"], env)).stdout) as {
        checks: Array<{ name: string; verdict: string; detail: string }>
      }).checks.find((check) => check.name === "variable prefix")
    try {
      // What connect prints for eval, as a user's shell would hold it afterwards.
      const exported: Record<string, string> = {}
      for (const args of [["connect", "copilot"], ["connect", "antigravity"], ["connect", "env", "--key", "gw-key"]]) {
        const printed = await run(args, user.env)
        assert.equal(printed.code, 0, printed.stderr)
        for (const [, name, value] of printed.stdout.matchAll(/^export (ISARTOR_\w+)='([^']*)'$/gm)) {
          exported[name!] = value!
        }
      }
      assert.deepEqual(Object.keys(exported).sort(), [
        "ISARTOR_ANTIGRAVITY_ENABLED",
        "ISARTOR_API_KEY",
        "ISARTOR_COPILOT_ENABLED"
      ])
      // ISARTOR_URL: where connect and cache look for a gateway.
      const connected = { ...user.env, ...exported, ISARTOR_URL: "http://127.0.0.1:8080" }
      const clean = await prefixCheck(connected)
      assert.equal(clean?.verdict, "ok", clean?.detail)
      const mistaken = await prefixCheck({ ...connected, ISARTOR_CACHE_MODE: "semantic" })
      assert.equal(mistaken?.verdict, "fail")
      assert.equal(mistaken?.detail, "ignored (one underscore): ISARTOR_CACHE_MODE")
    } finally {
      user.cleanup()
    }
  })

  it("says which value wins when the file and a variable both set a key", async () => {
    const user = userEnv(
      upstreamEnv(upstream.url, { ISARTOR__CACHE_TTL_SECS: "60", ISARTOR__HOST_PORT: "127.0.0.1:0" })
    )
    try {
      writeFileSync(join(user.home, "isartor.toml"), "cache_ttl_secs = 600\n")
      const result = await run(["doctor"], user.env)
      assert.match(
        result.stdout,
        /config file isartor\.toml; the variable wins over the file for cache_ttl_secs \(ISARTOR__CACHE_TTL_SECS="60"\)/
      )
      assert.match(result.stdout, /to use the file's value: unset ISARTOR__CACHE_TTL_SECS/)
    } finally {
      user.cleanup()
    }
  })

  it("says whether the proxy runs where a connected Copilot expects it, and whether its CA key is owner-only", async () => {
    const free = createServer()
    await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", resolve))
    const proxyPort = (free.address() as { port: number }).port
    await new Promise((resolve) => free.close(resolve))
    const user = userEnv(
      upstreamEnv(upstream.url, {
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__PROXY__PORT: String(proxyPort)
      })
    )
    const verdict = (report: string, name: string) =>
      (JSON.parse(report) as { checks: Array<{ name: string; verdict: string; detail: string; fix: string }> })
        .checks.find((check) => check.name === name)
    try {
      assert.equal(verdict((await run(["doctor", "--json"], user.env)).stdout, "proxy")?.verdict, "ok")
      assert.equal(verdict((await run(["doctor", "--json"], user.env)).stdout, "proxy CA")?.verdict, "skip")

      assert.equal((await run(["connect", "copilot"], user.env)).code, 0)
      const down = await run(["doctor"], user.env)
      assert.equal(down.code, 1)
      assert.match(
        down.stdout,
        new RegExp(`FAIL {2}proxy: copilot goes through http://127\\.0\\.0\\.1:${proxyPort}, but no proxy runs there`)
      )
      assert.match(down.stdout, /fix: isartor up \(it starts the proxy for connected tools\), or isartor proxy/)
      const squatter = createServer()
      await new Promise<void>((resolve) => squatter.listen(proxyPort, "127.0.0.1", resolve))
      try {
        const taken = verdict((await run(["doctor", "--json"], user.env)).stdout, "proxy")
        assert.equal(taken?.verdict, "fail")
        assert.match(taken!.detail, /where another program listens .*: the proxy cannot start there/)
        assert.match(taken!.fix, /set ISARTOR__PROXY__PORT \(proxy\.port\) to a free port/)
      } finally {
        await new Promise((resolve) => squatter.close(resolve))
      }
      assert.match(down.stdout, /ok {4}proxy CA: .*ca\.pem; its key .*ca-key\.pem is mode 0600 \(owner only\)/)

      const key = join(user.env.ISARTOR_HOME!, "proxy", "ca-key.pem")
      chmodSync(key, 0o644)
      const exposed = verdict((await run(["doctor", "--json"], user.env)).stdout, "proxy CA")
      assert.equal(exposed?.verdict, "fail")
      assert.match(exposed!.detail, /is mode 0644: others on this machine can read the key/)
      assert.match(exposed!.fix, new RegExp(`chmod 600 ${key.replace(/[.]/g, "\\.")}`))
      chmodSync(key, 0o600)

      const proxy = spawn(process.execPath, [join(projectRoot, "bin/isartor"), "proxy"], {
        env: user.env,
        stdio: ["ignore", "pipe", "pipe"]
      })
      try {
        await new Promise<void>((resolve, reject) => {
          let out = ""
          proxy.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString()
            if (out.includes("isartor proxy on")) resolve()
          })
          proxy.on("exit", (code) => reject(new Error(`the proxy exited ${code}: ${out}`)))
        })
        const up = await run(["doctor"], user.env)
        assert.match(
          up.stdout,
          new RegExp(`ok {4}proxy: running at http://127\\.0\\.0\\.1:${proxyPort} \\(pid ${proxy.pid}\\) for copilot`)
        )
        assert.equal(up.code, 0, up.stdout)
      } finally {
        proxy.kill("SIGTERM")
      }
    } finally {
      user.cleanup()
    }
  })
})
