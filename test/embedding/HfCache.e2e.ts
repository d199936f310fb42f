import assert from "node:assert/strict"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { cp, readFile } from "node:fs/promises"
import { createServer } from "node:http"
import { createServer as createTcpServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { fileURLToPath } from "node:url"
import { run } from "../cli/run.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { projectRoot, runtimeCommand, startProcess } from "../support/processes.ts"

/** The tiny BERT-shaped fixture, served as if it were bge-small-en-v1.5's transformers.js files. */
const fixture = fileURLToPath(new URL("../fixtures/tiny-bert", import.meta.url))
const REPOSITORY = "Xenova/bge-small-en-v1.5"

/** A loopback stand-in for the Hugging Face hub (HF_ENDPOINT): the fixture's files, 404 for anything else. */
const startFakeHub = async () => {
  const requests: Array<string> = []
  const prefix = `/${REPOSITORY}/resolve/main/`
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`)
    const file = request.url?.startsWith(prefix) ? request.url.slice(prefix.length) : ""
    void (/^[\w./-]+$/.test(file) && !file.includes("..") ? readFile(join(fixture, file)) : Promise.reject())
      .then((body) => {
        response.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length })
        response.end(request.method === "HEAD" ? undefined : body)
      }, () => response.writeHead(404).end())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return { url, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

/** A loopback address where nothing listens: a hub that cannot be reached. */
const deadEndpoint = async () => {
  const server = createTcpServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

let upstream: FakeOpenAI
let hub: Awaited<ReturnType<typeof startFakeHub>>
before(async () => {
  upstream = await startFakeOpenAI()
  hub = await startFakeHub()
})
after(async () => {
  await hub.close()
  await upstream.close()
})

/** A user with an empty HOME and neither HF_HOME nor ISARTOR_HF_CACHE_DIR set, asking for bge-small-en-v1.5. */
const userWithoutHfHome = (endpoint: string) => {
  const home = mkdtempSync(join(tmpdir(), "isartor-hf-home-"))
  const env = upstreamEnv(upstream.url, {
    PATH: process.env.PATH ?? "",
    HOME: home,
    HF_ENDPOINT: endpoint,
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EMBEDDING_MODEL: "bge-small-en-v1.5"
  })
  return { home, env, cleanup: () => rmSync(home, { recursive: true, force: true }) }
}

describe("ISARTOR__EMBEDDING_MODEL=bge-small-en-v1.5 without HF_HOME: the guide's ~/.cache/huggingface", () => {
  for (const runtime of ["node", "bun", "deno"] as const) {
    const command = runtimeCommand(runtime, `runtimes/${runtime}.ts`)

    it(`${runtime}: starts from the model in ~/.cache/huggingface, the hub unreachable and not needed`, async () => {
      const user = userWithoutHfHome(await deadEndpoint())
      try {
        await cp(fixture, join(user.home, ".cache", "huggingface", REPOSITORY), { recursive: true })
        const gateway = await startProcess(command, user.env)
        gateway.stop()
        assert.match(gateway.output(), /listening on http:/)
      } finally {
        user.cleanup()
      }
    })

    it(`${runtime}: not cached and the hub unreachable: says which directory was searched and how to provide the files`, async () => {
      const endpoint = await deadEndpoint()
      const user = userWithoutHfHome(endpoint)
      try {
        const result = await run([], user.env, { command, cwd: projectRoot })
        assert.equal(result.code, 1, result.stderr)
        const cacheDir = join(user.home, ".cache", "huggingface")
        const message = result.stderr.trim()
        assert.match(message, /or set ISARTOR__EMBEDDING_MODEL_PATH to a directory holding them$/)
        if (runtime === "deno") {
          // Started with --allow-read only (npm run start:deno): the cache cannot be written, so nothing downloads.
          assert.ok(
            message.includes(
              `the model cache ${cacheDir} (the default: neither ISARTOR_HF_CACHE_DIR nor HF_HOME is set) cannot be created or written, and bge-small-en-v1.5 is not in it`
            ),
            message
          )
          assert.match(message, /\(Deno also needs --allow-write for it\)/)
          return
        }
        assert.ok(
          message.includes(
            `bge-small-en-v1.5 is not in the model cache ${cacheDir} (the default: neither ISARTOR_HF_CACHE_DIR nor HF_HOME is set), and the hub at ${endpoint} could not be reached to download it`
          ),
          message
        )
        assert.ok(
          message.includes(
            `copy ${REPOSITORY}'s config.json, tokenizer.json and onnx/model.onnx to ${join(cacheDir, REPOSITORY)}`
          ),
          message
        )
      } finally {
        user.cleanup()
      }
    })
  }

  // Deno runs with --allow-read only (npm run start:deno): it never writes a cache, so never downloads.
  for (const runtime of ["node", "bun"] as const) {
    it(`${runtime}: downloads the model from the hub to ~/.cache/huggingface`, async () => {
      const user = userWithoutHfHome(hub.url)
      try {
        const asked = hub.requests.length
        const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), user.env)
        gateway.stop()
        assert.ok(
          hub.requests.slice(asked).includes(`GET /${REPOSITORY}/resolve/main/onnx/model.onnx`),
          gateway.output()
        )
        const cached = join(user.home, ".cache", "huggingface", REPOSITORY)
        for (const file of ["config.json", "tokenizer.json", "onnx/model.onnx"]) {
          assert.ok(existsSync(join(cached, file)), `${file} is not in ${cached}`)
        }
      } finally {
        user.cleanup()
      }
    })
  }
})
