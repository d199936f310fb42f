import assert from "node:assert/strict"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, it } from "node:test"
import type { EmbeddingBackend } from "../../../core/embedding/Embedder.ts"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../../../runtimes/embedding/inWorker.ts"
import { loadUseLite } from "../../../runtimes/embedding/useLite.ts"
import { cachedStaticTable, type Vocabulary } from "../../../runtimes/embedding/useLiteStatic.ts"
import { tableCacheDir } from "../../../runtimes/shared.ts"
import { askNative as ask, semanticGateways } from "../../support/gateway.ts"

// USE-lite with its static distillation (built in this process, ≈ 10 s, unless an earlier run left it in the
// user's cache directory as the gateway does), and counters on both encoders.
const model = await loadUseLite({ fast: true, tableCacheDir: tableCacheDir(process.env) })
const hnswlib = await loadHnswlib()
let modelCalls = 0
let fastReady = true
const counted: EmbeddingBackend = {
  ...model,
  embed: (texts) => {
    modelCalls += texts.length
    return model.embed(texts)
  },
  fast: (text) => (fastReady ? model.fast!(text) : undefined)
}
const backends: SemanticBackends = { loadEmbedder: async () => counted, loadHnswlib: async () => hnswlib }

const { withGateway } = semanticGateways(backends)

describe("L1b fast first stage (static distillation of USE-lite)", () => {
  it("answers a close rephrasing without running the model", async () => {
    await withGateway({}, async (gateway) => {
      assert.equal((await ask(gateway, "How do I configure the billing address of my account?")).layer, "l3")
      const before = modelCalls
      const hit = await ask(gateway, "how do i configure the billing address of my account")
      assert.equal(hit.layer, "l1b")
      assert.equal(hit.stage, "fast")
      assert.ok(hit.similarity >= 0.93, String(hit.similarity))
      assert.equal(hit.body.message, "Answer #1 to: How do I configure the billing address of my account?")
      assert.equal(modelCalls, before, "the full model was not called")
    })
  })

  it("keeps scopes apart and the verifier's rules on the fast path", async () => {
    await withGateway({ ISARTOR__GATEWAY_API_KEY: "gw-key-0123456789abcdef" }, async (gateway) => {
      const key = (k: string) => ({ authorization: `Bearer ${k}` })
      assert.equal(
        (await ask(gateway, "How many vacation days do I get in 2024?", key("gw-key-0123456789abcdef"))).layer,
        "l3"
      )
      const otherNumber = await ask(gateway, "How many vacation days do I get in 2025?", key("gw-key-0123456789abcdef"))
      assert.notEqual(otherNumber.layer, "l1b", "a different number is a different question, however close the vectors")
    })
    await withGateway({}, async (gateway) => {
      assert.equal(
        (await ask(gateway, "How do I export my contacts to a spreadsheet?", { "x-isartor-session-id": "alice" }))
          .layer,
        "l3"
      )
      assert.equal(
        (await ask(gateway, "how do I export my contacts to a spreadsheet", { "x-isartor-session-id": "bob" })).layer,
        "l3",
        "another session's entry is never served"
      )
      const sameSession = await ask(gateway, "how do I export my contacts to a spreadsheet", {
        "x-isartor-session-id": "alice"
      })
      assert.equal(sameSession.stage, "fast", "while the same session gets it from the fast stage")
    })
  })

  it("is off at semantic_fast_threshold = 1: the model decides every hit", async () => {
    await withGateway({ ISARTOR__SEMANTIC_FAST_THRESHOLD: "1" }, async (gateway) => {
      await ask(gateway, "How do I rotate the access keys of my project?")
      const hit = await ask(gateway, "how do i rotate the access keys of my project")
      assert.equal(hit.layer, "l1b")
      assert.equal(hit.stage, "model")
    })
  })

  it("indexes entries cached before the fast encoder was ready, once it is", async () => {
    fastReady = false
    try {
      await withGateway({}, async (gateway) => {
        await ask(gateway, "How do I delete a webhook from the dashboard?")
        fastReady = true
        // The first lookup after readiness starts the catch-up; a later one finds the entry on the fast path.
        await ask(gateway, "how do i delete a webhook from the dashboard")
        let stage: string | null = null
        for (let attempt = 0; attempt < 20 && stage !== "fast"; attempt++) {
          stage = (await ask(gateway, "How do I delete a webhook from the dashboard ?")).stage
          if (stage !== "fast") await new Promise((resolve) => setTimeout(resolve, 25))
        }
        assert.equal(stage, "fast")
      })
    } finally {
      fastReady = true
    }
  })
})

describe("the fast stage's table on disk", () => {
  // A small vocabulary and a deterministic stand-in for the model: what is under test is the cache file.
  const vocabulary: Vocabulary = ["▁how", "▁do", "▁i", "▁reset", "▁password", "?", "▁export", "▁csv"].map((
    piece,
    i
  ) => [piece, -2 - i])
  let embedded = 0
  const embed = async (texts: Array<string>) =>
    texts.map((text) => {
      embedded++
      return Float32Array.from({ length: 512 }, (_, j) => Math.sin((text.charCodeAt(j % text.length) + 1) * (j + 1)))
    })

  it("is built once, read back by the next start, and rebuilt when stale or corrupt", async () => {
    const dir = await mkdtemp(join(tmpdir(), "isartor-table-"))
    try {
      embedded = 0
      const first = await cachedStaticTable(embed, vocabulary, dir, "1.0.0")
      assert.equal(first.source, "built")
      assert.equal(first.notSaved, undefined)
      assert.equal(embedded, vocabulary.length)
      const [file] = await readdir(dir)
      assert.match(file!, /^use-lite-static-[0-9a-f]{16}\.f32$/)

      embedded = 0
      const second = await cachedStaticTable(embed, vocabulary, dir, "1.0.0")
      assert.equal(second.source, "disk")
      assert.equal(embedded, 0, "the next start embeds nothing")
      assert.deepEqual(second.table, first.table)

      // Another model release: another file, built afresh.
      embedded = 0
      assert.equal((await cachedStaticTable(embed, vocabulary, dir, "1.0.1")).source, "built")
      assert.equal(embedded, vocabulary.length)

      // One flipped byte: ignored, rebuilt and rewritten.
      const path = join(dir, file!)
      const bytes = await readFile(path)
      bytes[100] = bytes[100]! ^ 0xff
      await writeFile(path, bytes)
      const repaired = await cachedStaticTable(embed, vocabulary, dir, "1.0.0")
      assert.equal(repaired.source, "built")
      assert.deepEqual(repaired.table, first.table)
      assert.equal((await cachedStaticTable(embed, vocabulary, dir, "1.0.0")).source, "disk")
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("reaches the gateway's thread from the embedding worker, the same table as built here", async () => {
    const worker = await loadEmbedderInWorker(new URL("../../../runtimes/embedding/worker-node.mjs", import.meta.url), {
      model: "use-lite",
      modelPath: "",
      cacheDir: "",
      tableCacheDir: tableCacheDir(process.env)
    })
    try {
      // Read from the cache directory this file's model filled (or built again on the worker): ready within a minute.
      for (let waited = 0; worker.fast!("ready?") === undefined && waited < 60_000; waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const question = "How do I export my contacts to a spreadsheet?"
      assert.deepEqual(worker.fast!(question), model.fast!(question))
    } finally {
      await worker.dispose?.()
    }
  })

  it("still builds the table when the cache directory cannot be written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "isartor-table-"))
    try {
      const notADirectory = join(dir, "file")
      await writeFile(notADirectory, "")
      const result = await cachedStaticTable(embed, vocabulary, join(notADirectory, "cache"), "1.0.0")
      assert.equal(result.source, "built")
      assert.match(result.notSaved ?? "", /ENOTDIR|not a directory/, "and says why it could not be saved")
      assert.equal(result.table.length, vocabulary.length * 512)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
