import { labelledPrompts } from "../core/router/prompts.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"
const m = await loadUseLite()
const t0 = performance.now()
const vecs: Float32Array[] = []
const texts = labelledPrompts.map(p => p.text)
for (let i = 0; i < texts.length; i += 64) vecs.push(...await m.embed(texts.slice(i, i + 64)))
console.log("embed ms", performance.now() - t0)
// seeded split
let seed = 7; const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
const idx = labelledPrompts.map((_, i) => i).sort(() => rnd() - 0.5)
const test = new Set<number>()
const byLabel: Record<string, number[]> = {}
for (const i of idx) (byLabel[labelledPrompts[i]!.kind + labelledPrompts[i]!.tier] ??= []).push(i)
for (const list of Object.values(byLabel)) list.slice(0, Math.round(list.length * 0.2)).forEach(i => test.add(i))
const classes = ["TEMPLATE", "SNIPPET", "COMPLEX"]
const bin = (t: string) => t === "COMPLEX" ? 1 : 0
function softmax(train: number[], labelOf: (i: number) => number, k: number, l2 = 1e-3, iters = 300, lr = 0.5) {
  const d = 512; const W = Array.from({ length: k }, () => new Float64Array(d + 1))
  for (let it = 0; it < iters; it++) {
    const G = Array.from({ length: k }, () => new Float64Array(d + 1))
    for (const i of train) {
      const x = vecs[i]!; const z = W.map(w => { let s = w[d]!; for (let j = 0; j < d; j++) s += w[j]! * x[j]!; return s })
      const mx = Math.max(...z); const e = z.map(v => Math.exp(v - mx)); const S = e.reduce((a, b) => a + b)
      for (let c = 0; c < k; c++) { const g = e[c]! / S - (labelOf(i) === c ? 1 : 0); for (let j = 0; j < d; j++) G[c]![j]! += g * x[j]!; G[c]![d]! += g }
    }
    for (let c = 0; c < k; c++) for (let j = 0; j <= d; j++) W[c]![j]! -= lr * (G[c]![j]! / train.length + (j < d ? l2 * W[c]![j]! : 0))
  }
  return (x: Float32Array) => { const z = W.map(w => { let s = w[d]!; for (let j = 0; j < d; j++) s += w[j]! * x[j]!; return s }); return z.indexOf(Math.max(...z)) }
}
function centroid(train: number[], labelOf: (i: number) => number, k: number) {
  const C = Array.from({ length: k }, () => new Float64Array(512))
  for (const i of train) { const c = C[labelOf(i)]!; vecs[i]!.forEach((v, j) => c[j]! += v) }
  return (x: Float32Array) => { const s = C.map(c => { let n = 0, dot = 0; for (let j = 0; j < 512; j++) { n += c[j]! ** 2; dot += c[j]! * x[j]! } return dot / Math.sqrt(n) }); return s.indexOf(Math.max(...s)) }
}
function knn(train: number[], labelOf: (i: number) => number, k: number, K = 7) {
  return (x: Float32Array) => { const s = train.map(i => { let dot = 0; for (let j = 0; j < 512; j++) dot += vecs[i]![j]! * x[j]!; return [dot, labelOf(i)] as const }).sort((a, b) => b[0] - a[0]).slice(0, K); const votes = new Array(k).fill(0); s.forEach(([d, l]) => votes[l] += d); return votes.indexOf(Math.max(...votes)) }
}
const train = labelledPrompts.map((_, i) => i).filter(i => !test.has(i))
for (const [name, lab, k] of [["tiered", (i: number) => classes.indexOf(labelledPrompts[i]!.tier), 3], ["binary", (i: number) => bin(labelledPrompts[i]!.tier), 2]] as const) {
  for (const [mname, make] of [["softmax", softmax], ["centroid", centroid], ["knn", knn]] as const) {
    const t1 = performance.now(); const f = (make as any)(train, lab, k); const tt = performance.now() - t1
    let ok = 0; for (const i of test) if (f(vecs[i]!) === lab(i)) ok++
    console.log(name, mname, (ok / test.size).toFixed(3), `train ${tt.toFixed(0)} ms`, test.size)
  }
}
