/**
 * A two-panel SVG chart of a workload run: latency per layer (p50/p95/p99, log scale) and each layer's share of
 * requests. Plain SVG text: nothing to install, and it opens in any browser.
 */
interface LayerRow {
  readonly layer: string
  readonly count: number
  readonly share: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
}

interface Figures {
  readonly workload: string
  readonly runtime: string
  readonly concurrency: number
  readonly upstreamLatencyMs: number
  readonly deflection: number
  readonly perLayer: ReadonlyArray<LayerRow>
}

const escape = (text: string) => text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!)

export const chartSvg = (figures: Figures): string => {
  const width = 760
  const panelTop = 76
  const panelHeight = 240
  const rows = figures.perLayer
  const colours = { p50: "#4e79a7", p95: "#f28e2b", p99: "#e15759" }
  const maxMs = Math.max(1, ...rows.flatMap((row) => [row.p99].filter(Number.isFinite)))
  const logMax = Math.log10(maxMs * 2)
  const logMin = -1 // 0.1 ms
  const y = (ms: number) =>
    panelTop + panelHeight - (Math.max(0, Math.log10(Math.max(ms, 0.1)) - logMin) / (logMax - logMin)) * panelHeight
  const groupWidth = 300 / rows.length
  const parts: Array<string> = []
  parts.push(
    `<text x="20" y="28" font-size="16" font-weight="bold">${
      escape(`${figures.workload} on ${figures.runtime}: ${(figures.deflection * 100).toFixed(1)} % deflected`)
    }</text>`
  )
  parts.push(
    `<text x="20" y="46" font-size="12" fill="#555">${
      escape(`concurrency ${figures.concurrency}, upstream latency ${figures.upstreamLatencyMs} ms`)
    }</text>`
  )
  parts.push(`<text x="60" y="${panelTop - 4}" font-size="12">latency per layer (ms, log scale)</text>`)
  for (const tick of [0.1, 1, 10, 100, 1000, 10000].filter((t) => Math.log10(t) <= logMax)) {
    parts.push(
      `<line x1="50" x2="360" y1="${y(tick)}" y2="${y(tick)}" stroke="#ddd"/><text x="46" y="${
        y(tick) + 4
      }" font-size="10" text-anchor="end">${tick}</text>`
    )
  }
  rows.forEach((row, i) => {
    const x0 = 60 + i * groupWidth
    ;(["p50", "p95", "p99"] as const).forEach((key, j) => {
      const value = row[key]
      if (!Number.isFinite(value)) return
      const top = y(value)
      parts.push(
        `<rect x="${x0 + j * 20}" y="${top}" width="18" height="${panelTop + panelHeight - top}" fill="${
          colours[key]
        }"><title>${row.layer} ${key} ${value.toFixed(2)} ms</title></rect>`
      )
    })
    parts.push(
      `<text x="${x0 + 30}" y="${panelTop + panelHeight + 16}" font-size="12" text-anchor="middle">${row.layer}</text>`
    )
  })
  ;(["p50", "p95", "p99"] as const).forEach((key, j) => {
    parts.push(
      `<rect x="${60 + j * 60}" y="${panelTop + panelHeight + 28}" width="10" height="10" fill="${
        colours[key]
      }"/><text x="${74 + j * 60}" y="${panelTop + panelHeight + 37}" font-size="11">${key}</text>`
    )
  })
  parts.push(`<text x="420" y="${panelTop - 4}" font-size="12">share of requests per layer</text>`)
  rows.forEach((row, i) => {
    const barTop = panelTop + 10 + i * 50
    const barWidth = row.share * 280
    parts.push(`<text x="420" y="${barTop + 15}" font-size="12">${row.layer}</text>`)
    parts.push(
      `<rect x="450" y="${barTop}" width="${barWidth}" height="22" fill="${
        row.layer === "l3" ? "#bab0ac" : "#59a14f"
      }"/>`
    )
    parts.push(
      `<text x="${456 + barWidth}" y="${barTop + 15}" font-size="11">${
        (row.share * 100).toFixed(1)
      } % (${row.count})</text>`
    )
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    panelTop + panelHeight + 50
  }" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`
}

/** Precision and hit rate over a decision threshold, one panel per pairs file: what `bench:semantic` sweeps. */
export const curveSvg = (
  title: string,
  series: ReadonlyArray<
    {
      readonly name: string
      readonly points: ReadonlyArray<
        { readonly threshold: number; readonly precision: number; readonly label1_hit_rate: number }
      >
    }
  >
): string => {
  const width = 380 * series.length + 40
  const height = 330
  const parts: Array<string> = [
    `<text x="20" y="26" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="20" y="46" font-size="12" fill="#555">precision (blue) and hit rate of paraphrases (orange) over the decision threshold</text>`
  ]
  series.forEach(({ name, points }, panel) => {
    const left = 50 + panel * 380
    const top = 70
    const size = 220
    const thresholds = points.map((point) => point.threshold)
    const lo = Math.min(...thresholds)
    const hi = Math.max(...thresholds)
    const x = (t: number) => left + ((t - lo) / Math.max(1e-9, hi - lo)) * 300
    const y = (v: number) => top + size - v * size
    parts.push(`<text x="${left}" y="${top - 8}" font-size="12">${escape(name)}</text>`)
    parts.push(`<rect x="${left}" y="${top}" width="300" height="${size}" fill="none" stroke="#ccc"/>`)
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      parts.push(`<text x="${left - 30}" y="${y(v) + 4}" font-size="10">${v.toFixed(2)}</text>`)
    }
    for (const t of [lo, (lo + hi) / 2, hi]) {
      parts.push(`<text x="${x(t) - 10}" y="${top + size + 16}" font-size="10">${t.toFixed(2)}</text>`)
    }
    const line = (key: "precision" | "label1_hit_rate", colour: string) =>
      parts.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${
          points.map((point) => `${x(point.threshold).toFixed(1)},${y(point[key]).toFixed(1)}`).join(" ")
        }"/>`
      )
    line("precision", "#4e79a7")
    line("label1_hit_rate", "#f28e2b")
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">${
    parts.join("")
  }</svg>\n`
}
