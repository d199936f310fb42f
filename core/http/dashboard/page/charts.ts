/**
 * The page's charts, drawn by uPlot: bars stacked by layer (deflection over time, request rate) and lines (spent and
 * saved). Each chart follows its container's width, and names itself for a screen reader; its numbers are also in
 * the table beside it.
 */
import uPlot from "uplot"

export const LAYER_COLORS: Readonly<Record<string, string>> = {
  l1a: "#1a7f37",
  l1b: "#0969da",
  l2: "#8250df",
  l3: "#bc4c00",
  pass: "#6e7781"
}

export interface Series {
  readonly label: string
  readonly color: string
  readonly values: ReadonlyArray<number>
}

export interface ChartData {
  /** Bucket starts, in seconds since the epoch. */
  readonly x: ReadonlyArray<number>
  /** Seconds per bucket: the x axis spans whole buckets even with one of them. */
  readonly step: number
  readonly series: ReadonlyArray<Series>
}

export interface Chart {
  readonly update: (data: ChartData, description: string) => void
}

const HEIGHT = 220

/** What the chart draws: stacked bars (each series on top of the ones before it) or one line per series. */
type Kind = "stacked" | "lines"

/** Cumulative sums, series by series: what a stacked bar's top is at. */
const stackOf = (series: ReadonlyArray<Series>): Array<Array<number>> => {
  const tops: Array<Array<number>> = []
  series.forEach((one, i) => tops.push(one.values.map((value, j) => value + (i === 0 ? 0 : tops[i - 1]![j]!))))
  return tops
}

export const makeChart = (container: HTMLElement, kind: Kind, formatValue: (value: number) => string): Chart => {
  let plot: uPlot | undefined
  let shown: ChartData = { x: [], step: 60, series: [] }
  // Stacked bars are drawn top first, so each lower layer's bar is painted over the one above it.
  const ordered = (data: ChartData) => kind === "stacked" ? [...data.series].reverse() : [...data.series]
  const aligned = (data: ChartData): uPlot.AlignedData => {
    const series = ordered(data)
    const values = kind === "stacked" ? stackOf([...data.series]).reverse() : series.map((one) => [...one.values])
    return [[...data.x], ...values]
  }
  const options = (data: ChartData): uPlot.Options => ({
    width: Math.max(container.clientWidth, 240),
    height: HEIGHT,
    // The legend names the series; the numbers are in the table beside the chart.
    legend: { live: false },
    scales: {
      x: {
        time: true,
        range: () => {
          const first = shown.x[0] ?? Date.now() / 1000
          const last = shown.x[shown.x.length - 1] ?? first
          return [first - shown.step / 2, last + shown.step / 2]
        }
      },
      y: {
        range: (_plot, _min, max) => [0, max > 0 ? max * 1.1 : 1]
      }
    },
    axes: [{}, { values: (_plot, ticks) => ticks.map(formatValue), size: 64 }],
    series: [
      {},
      ...ordered(data).map((one): uPlot.Series => ({
        label: one.label,
        stroke: one.color,
        width: kind === "stacked" ? 0 : 2,
        ...(kind === "stacked"
          ? { fill: one.color, paths: uPlot.paths.bars!({ size: [0.7, 48], gap: 1 }), points: { show: false } }
          : { points: { show: true, size: 6 } })
      }))
    ]
  })
  new ResizeObserver(() => plot?.setSize({ width: Math.max(container.clientWidth, 240), height: HEIGHT })).observe(
    container
  )
  return {
    update: (data, description) => {
      const sameSeries = plot !== undefined && shown.series.map((one) => one.label).join() ===
          data.series.map((one) => one.label).join()
      shown = data
      if (sameSeries) plot!.setData(aligned(data))
      else {
        plot?.destroy()
        plot = new uPlot(options(data), aligned(data), container)
        const canvas = plot.root.querySelector(".u-over")
        canvas?.setAttribute("role", "img")
      }
      plot!.root.querySelector(".u-over")?.setAttribute("aria-label", description)
    }
  }
}
