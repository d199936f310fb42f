import { parsePrice } from "../observability/usage.ts"

/** When the shipped prices were read from the providers' public price pages. */
export const PRICES_DATE = "2026-12-07"

/** USD per million input / output tokens. */
export interface ListedPrice {
  readonly input_per_million: number
  readonly output_per_million: number
}

/**
 * The providers' list prices, by `provider/model` (a model name is a prefix: `gpt-4o-mini-2024-07-18` is
 * `gpt-4o-mini`). Estimates: a contract price, a batch discount or a cached-input rate is not in it; override any
 * entry with `[pricing."<provider>/<model>"]`.
 */
export const SHIPPED_PRICES: Readonly<Record<string, ListedPrice>> = {
  "openai/gpt-5-nano": { input_per_million: 0.05, output_per_million: 0.4 },
  "openai/gpt-5-mini": { input_per_million: 0.25, output_per_million: 2 },
  "openai/gpt-5": { input_per_million: 1.25, output_per_million: 10 },
  "openai/gpt-4.1-nano": { input_per_million: 0.1, output_per_million: 0.4 },
  "openai/gpt-4.1-mini": { input_per_million: 0.4, output_per_million: 1.6 },
  "openai/gpt-4.1": { input_per_million: 2, output_per_million: 8 },
  "openai/gpt-4o-mini": { input_per_million: 0.15, output_per_million: 0.6 },
  "openai/gpt-4o": { input_per_million: 2.5, output_per_million: 10 },
  "openai/o4-mini": { input_per_million: 1.1, output_per_million: 4.4 },
  "openai/o3": { input_per_million: 2, output_per_million: 8 },
  "openai/text-embedding-3-small": { input_per_million: 0.02, output_per_million: 0 },
  "openai/text-embedding-3-large": { input_per_million: 0.13, output_per_million: 0 },
  "azure/gpt-4o-mini": { input_per_million: 0.15, output_per_million: 0.6 },
  "azure/gpt-4o": { input_per_million: 2.5, output_per_million: 10 },
  "azure/gpt-4.1-mini": { input_per_million: 0.4, output_per_million: 1.6 },
  "azure/gpt-4.1": { input_per_million: 2, output_per_million: 8 },
  "anthropic/claude-haiku-4-5": { input_per_million: 1, output_per_million: 5 },
  "anthropic/claude-sonnet-4-5": { input_per_million: 3, output_per_million: 15 },
  "anthropic/claude-sonnet-4": { input_per_million: 3, output_per_million: 15 },
  "anthropic/claude-opus-4-1": { input_per_million: 15, output_per_million: 75 },
  "anthropic/claude-3-5-haiku": { input_per_million: 0.8, output_per_million: 4 },
  "gemini/gemini-2.5-flash-lite": { input_per_million: 0.1, output_per_million: 0.4 },
  "gemini/gemini-2.5-flash": { input_per_million: 0.3, output_per_million: 2.5 },
  "gemini/gemini-2.5-pro": { input_per_million: 1.25, output_per_million: 10 },
  "gemini/gemini-2.0-flash": { input_per_million: 0.1, output_per_million: 0.4 },
  "xai/grok-4": { input_per_million: 3, output_per_million: 15 },
  "xai/grok-3-mini": { input_per_million: 0.3, output_per_million: 0.5 }
}

/** USD per token. */
export interface Price {
  readonly input: number
  readonly output: number
}

interface Entry extends Price {
  /** `undefined`: any provider's model of that name (a `model_prices` entry). */
  readonly provider: string | undefined
  readonly model: string
  /** Lower wins: the operator's `pricing` table, then `model_prices`, then the shipped table. */
  readonly rank: number
}

const entryOf = (key: string, price: ListedPrice, rank: number): Entry => {
  const slash = key.indexOf("/")
  return {
    provider: slash < 0 ? undefined : key.slice(0, slash),
    model: slash < 0 ? key : key.slice(slash + 1),
    input: price.input_per_million / 1e6,
    output: price.output_per_million / 1e6,
    rank
  }
}

export interface PriceSettings {
  /** `[pricing."<provider>/<model>"]` (or a bare model name, for every provider). */
  readonly pricing: Readonly<Record<string, ListedPrice>>
  /** `model_prices`: `model=input/output` entries, for any provider. */
  readonly model_prices: ReadonlyArray<string>
}

/**
 * The price of a provider's model: the operator's `pricing`, else `model_prices`, else the shipped table; within
 * each, the longest model-name prefix. A cache hit names no provider (`""`): any provider's model of that name.
 * `undefined`: the model is unpriced, and costs 0.
 */
export const makePrices = (settings: PriceSettings) => {
  const entries: Array<Entry> = [
    ...Object.entries(settings.pricing).map(([key, price]) => entryOf(key, price, 0)),
    ...settings.model_prices.flatMap((listed) => {
      const price = parsePrice(listed)
      return price
        ? [{ provider: undefined, model: price.model, input: price.input, output: price.output, rank: 1 }]
        : []
    }),
    ...Object.entries(SHIPPED_PRICES).map(([key, price]) => entryOf(key, price, 2))
  ]
  entries.sort((a, b) => a.rank - b.rank || b.model.length - a.model.length)
  // By provider, then model: found again without building a key (a cache hit looks its model's price up).
  const memo = new Map<string, Map<string, Price | undefined>>()
  let remembered = 0
  return (provider: string, model: string): Price | undefined => {
    let byModel = memo.get(provider)
    if (byModel?.has(model)) return byModel.get(model)
    const price = entries.find((entry) =>
      (entry.provider === undefined || provider === "" || entry.provider === provider) && model.startsWith(entry.model)
    )
    // Models come from answers: bounded, so a stream of made-up names cannot grow it.
    if (remembered >= 1000) (memo.clear(), (remembered = 0), (byModel = undefined))
    if (byModel === undefined) memo.set(provider, byModel = new Map())
    byModel.set(model, price)
    remembered++
    return price
  }
}

export type Prices = ReturnType<typeof makePrices>

/** The gateway's prices, as its configuration sets them. */
export const pricesOf = (config: PriceSettings): Prices => makePrices(config)
