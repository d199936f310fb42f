import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { makeLabelledIndex, SCAN_LIMIT, type SemanticEntry } from "../../../core/cache/semantic/LabelledIndex.ts"
import { VectorIndex } from "../../../core/cache/semantic/VectorIndex.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"

const hnswlib = await loadHnswlib()
const DIMENSIONS = 128

/** Seeded, so every run builds the same graph. */
const random = (seed: number) => () => {
  seed = (seed * 1664525 + 1013904223) >>> 0
  return seed / 2 ** 32
}
const unit = (next: () => number) => {
  const vector = Float32Array.from({ length: DIMENSIONS }, () => next() - 0.5)
  const norm = Math.hypot(...vector)
  return vector.map((value) => value / norm)
}
/** `vector` moved a little: another wording of the same question. */
const near = (vector: Float32Array, next: () => number) => {
  const moved = vector.map((value) => value + (next() - 0.5) * 0.02)
  const norm = Math.hypot(...moved)
  return moved.map((value) => value / norm)
}

const indexOf = (capacity: number) =>
  makeLabelledIndex({
    capacity,
    maxBytes: 2 ** 40,
    ttlMs: 3_600_000,
    dimensions: DIMENSIONS,
    index: VectorIndex.make(hnswlib, DIMENSIONS, capacity)
  })
const entry = (scope: string, i: number): SemanticEntry => ({
  id: `${scope}-${i}`,
  scope,
  text: `question ${i}`,
  completion: `answer ${i} of ${scope}`
})

const bruteForce = (vectors: Map<string, Float32Array>, query: Float32Array, k: number) =>
  [...vectors].map(([id, vector]) => ({ id, similarity: vector.reduce((sum, value, i) => sum + value * query[i]!, 0) }))
    .sort((a, b) => b.similarity - a.similarity).slice(0, k)

describe("L1b's labelled index: scopes of any size", () => {
  it("finds a question asked again among 10,000 entries of its scope, never another scope's entries", () => {
    const next = random(1)
    const index = indexOf(20_000)
    const big = Array.from({ length: 10_000 }, () => unit(next))
    big.forEach((vector, i) => assert.equal(index.insert(entry("big", i), vector), undefined))
    // Two other scopes: one in the graph too (the big scope's search then filters), one small enough to be read whole.
    const other = Array.from({ length: SCAN_LIMIT + 50 }, () => unit(next))
    other.forEach((vector, i) => index.insert(entry("other", i), vector))
    const small = Array.from({ length: 20 }, () => unit(next))
    small.forEach((vector, i) => index.insert(entry("small", i), vector))
    assert.equal(index.status().entries, 10_000 + SCAN_LIMIT + 50 + 20)

    for (const i of [0, 4_321, 7_777, 9_999]) {
      // Among the candidates L1b's decision reads.
      const found = index.searchModel(near(big[i]!, next), 16, "big")
      assert.ok(found.some((candidate) => candidate.entry.id === `big-${i}`), `big-${i}`)
      assert.ok(found.every((candidate) => candidate.entry.scope === "big"))
      // The same vector asked in the other scopes finds only their own entries.
      assert.ok(index.searchModel(big[i]!, 16, "other").every((candidate) => candidate.entry.scope === "other"))
      assert.ok(index.searchModel(big[i]!, 16, "small").every((candidate) => candidate.entry.scope === "small"))
    }
    for (const i of [0, 7, 19]) {
      assert.equal(index.searchModel(near(small[i]!, next), 16, "small")[0]?.entry.id, `small-${i}`)
    }
    for (const i of [0, 123, SCAN_LIMIT + 49]) {
      const found = index.searchModel(near(other[i]!, next), 16, "other")
      assert.ok(found.some((candidate) => candidate.entry.id === `other-${i}`), `other-${i}`)
    }
    assert.deepEqual(index.searchModel(big[0]!, 16, "nobody"), [])
  })

  it("gives a small scope's nearest entries exactly as a scan of all of them does, most similar first", () => {
    const next = random(2)
    const index = indexOf(1_000)
    const vectors = new Map<string, Float32Array>()
    for (let i = 0; i < SCAN_LIMIT; i++) {
      const vector = unit(next)
      vectors.set(`small-${i}`, vector)
      index.insert(entry("small", i), vector)
    }
    // A large scope beside it (in the graph), whose vectors are close to the small scope's queries.
    const queries = Array.from({ length: 30 }, () => unit(next))
    queries.forEach((query, i) => index.insert(entry("large", i), near(query, next)))
    for (let i = 30; i < SCAN_LIMIT + 100; i++) index.insert(entry("large", i), unit(next))
    for (const query of queries) {
      const found = index.searchModel(query, 16, "small")
      const expected = bruteForce(vectors, query, 16)
      assert.deepEqual(found.map((candidate) => candidate.entry.id), expected.map((candidate) => candidate.id))
      found.forEach((candidate, i) => assert.ok(Math.abs(candidate.similarity - expected[i]!.similarity) < 1e-5))
    }
  })

  it("keeps finding a scope's entries as it grows into the graph, and forgets the ones evicted", () => {
    const next = random(3)
    const capacity = SCAN_LIMIT + 100
    const index = indexOf(capacity)
    const vectors = Array.from({ length: capacity + 50 }, () => unit(next))
    vectors.slice(0, SCAN_LIMIT).forEach((vector, i) => index.insert(entry("grows", i), vector))
    assert.equal(index.searchModel(vectors[10]!, 4, "grows")[0]?.entry.id, "grows-10")
    // Past the limit the scope joins the graph; past the capacity the oldest entries are evicted.
    vectors.slice(SCAN_LIMIT).forEach((vector, i) => index.insert(entry("grows", SCAN_LIMIT + i), vector))
    assert.equal(index.status().entries, capacity)
    assert.equal(index.searchModel(vectors[SCAN_LIMIT + 10]!, 4, "grows")[0]?.entry.id, `grows-${SCAN_LIMIT + 10}`)
    assert.ok(index.searchModel(vectors[10]!, 16, "grows").every((candidate) => candidate.entry.id !== "grows-10"))
    // The learned decision reads the entry's own vector.
    const label = index.searchModel(vectors[SCAN_LIMIT]!, 1, "grows")[0]!.label
    assert.deepEqual([...index.vectorOf(label)!], [...vectors[SCAN_LIMIT]!])
  })

  it("in a full cache, answers for a reused label with its new vectors only, and never with an evicted one", () => {
    const next = random(7)
    const capacity = SCAN_LIMIT + 40
    const index = makeLabelledIndex({
      capacity,
      maxBytes: 2 ** 40,
      ttlMs: 3_600_000,
      dimensions: DIMENSIONS,
      index: VectorIndex.make(hnswlib, DIMENSIONS, capacity),
      fastIndex: VectorIndex.make(hnswlib, DIMENSIONS, capacity),
      fastDimensions: DIMENSIONS
    })
    const model = new Map<string, Float32Array>()
    const fast = new Map<string, Float32Array>()
    const put = (scope: string, i: number, withFast: boolean) => {
      const [vector, fastVector] = [unit(next), unit(next)]
      index.insert(entry(scope, i), vector, withFast ? fastVector : undefined)
      model.set(`${scope}-${i}`, vector)
      if (withFast) fast.set(`${scope}-${i}`, fastVector)
    }
    for (let i = 0; i < capacity; i++) put("big", i, true)
    // Each insert now evicts the oldest entry: its label is taken over by a later one, in the large scope (some
    // without a fast vector) or in a small scope kept out of the graphs.
    for (let i = capacity; i < capacity + 12; i++) put(i % 3 === 0 ? "small" : "big", i, i % 4 !== 0)
    assert.equal(index.status().entries, capacity)
    assert.ok(index.status().evictions >= 12)
    const check = () => {
      for (const [id, vector] of model) {
        const live = index.byId(id) !== undefined
        const scope = id.split("-")[0]!
        const found = index.searchModel(vector, 16, scope)
        if (scope === "big") assert.equal(found.length, 16)
        assert.equal(found[0]!.entry.id === id, live, id)
        assert.ok(found.every((candidate) => candidate.entry.id === id || candidate.similarity < 0.9), id)
        const fastVector = fast.get(id)
        if (fastVector === undefined || scope === "small") continue
        const fastFound = index.searchFast(fastVector, 16, scope)
        assert.equal(fastFound[0]?.entry.id === id, live, `${id} (fast)`)
        assert.ok(fastFound.every((candidate) => candidate.entry.id === id || candidate.similarity < 0.9), id)
      }
    }
    check()
    // Many entries gone at once (removed, or expired): none of them answers, the others still do.
    for (let i = 100; i < 150; i++) index.removeById(`big-${i}`)
    check()
  })

  it("reads a small scope's entry vector and removes its entries by id", () => {
    const next = random(4)
    const index = indexOf(100)
    const vector = unit(next)
    index.insert(entry("tiny", 1), vector)
    const [found] = index.searchModel(vector, 1, "tiny")
    assert.deepEqual([...index.vectorOf(found!.label)!], [...vector])
    assert.equal(index.removeById("tiny-1"), true)
    assert.deepEqual(index.searchModel(vector, 1, "tiny"), [])
    assert.equal(index.status().entries, 0)
  })

  it("drops each entry when its own time is up, and no other", () => {
    const next = random(5)
    let now = 1_000_000
    const index = makeLabelledIndex({
      capacity: 1_000,
      maxBytes: 2 ** 40,
      ttlMs: 60_000,
      dimensions: DIMENSIONS,
      index: VectorIndex.make(hnswlib, DIMENSIONS, 1_000),
      now: () => now
    })
    const vectors = Array.from({ length: SCAN_LIMIT + 10 }, () => unit(next))
    vectors.forEach((vector, i) => index.insert(entry("a", i), vector, undefined, i === 0 ? 5_000 : undefined))
    index.insert(entry("b", 0), vectors[1]!, undefined, 120_000)
    now += 5_000
    index.purgeExpired(now)
    assert.equal(index.status().entries, SCAN_LIMIT + 10)
    assert.equal(index.byId("a-0"), undefined, "its own TTL was up")
    now += 55_000
    index.purgeExpired(now)
    assert.equal(index.status().entries, 1)
    assert.deepEqual(index.searchModel(vectors[5]!, 4, "a"), [])
    assert.equal(index.searchModel(vectors[1]!, 1, "b")[0]?.entry.id, "b-0")
    now += 60_000
    index.purgeExpired(now)
    assert.equal(index.status().entries, 0)
  })
})
