import { loadTransformers } from "../runtimes/embedding/transformers.ts"
const t0 = performance.now()
const b = await loadTransformers({ model: "use-lite", modelPath: "test/fixtures/tiny-bert", cacheDir: "" })
console.log("loaded", b.name, b.dimensions, (performance.now() - t0).toFixed(0), "ms")
const [a, p, u] = await b.embed(["How do I reset my password?", "How can I reset my password?", "What is the capital of France?"])
const dot = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i]!, 0)
console.log("norm", dot(a!, a!).toFixed(4), "para", dot(a!, p!).toFixed(3), "unrel", dot(a!, u!).toFixed(3))
const t1 = performance.now(); for (let i = 0; i < 100; i++) await b.embed(["How do I reset my password quickly?"]); console.log("ms/embed", ((performance.now() - t1) / 100).toFixed(2))
await b.dispose?.()
