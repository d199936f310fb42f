/**
 * Token usage read from a serialised completion, and what it would have cost at the provider. Read from the
 * text, not parsed: this runs on every cache hit, and a completion can be large. Inside a JSON string every quote
 * is escaped, so `"usage":` and `"model":"` only match the completion's own fields.
 */

import { ESTIMATED } from "../domain/usageEstimate.ts"

export interface Usage {
  readonly input: number
  readonly output: number
  /** The gateway estimated it (core/domain/usageEstimate.ts): no provider reported these figures. */
  readonly estimated?: boolean
}

const numberAfter = (text: string, field: string, from: number): number => {
  const at = text.indexOf(`"${field}":`, from)
  if (at < 0) return 0
  const value = Number.parseInt(text.slice(at + field.length + 3, at + field.length + 23), 10)
  return Number.isFinite(value) ? value : 0
}

/** The completion's `usage` (OpenAI's names; what every provider is translated to), or undefined without one. */
export const usageOf = (completion: string): Usage | undefined => {
  const at = completion.lastIndexOf("\"usage\":{")
  if (at < 0) return undefined
  const end = completion.indexOf("}", at)
  return {
    input: numberAfter(completion, "prompt_tokens", at),
    output: numberAfter(completion, "completion_tokens", at),
    ...(completion.slice(at, end).includes(`"${ESTIMATED}":true`) ? { estimated: true } : {})
  }
}

export const modelOf = (completion: string): string => {
  const found = /"model":"([^"\\]*)"/.exec(completion)
  return found?.[1] ?? ""
}

export interface Price {
  readonly model: string
  /** USD per token. */
  readonly input: number
  readonly output: number
}

/** `gpt-4o-mini=0.15/0.60`: USD per million input / output tokens. */
export const parsePrice = (entry: string): Price | undefined => {
  const found = /^([^=\s]+)\s*=\s*([0-9.]+)\s*\/\s*([0-9.]+)$/.exec(entry.trim())
  if (!found) return undefined
  const input = Number(found[2])
  const output = Number(found[3])
  return Number.isFinite(input) && Number.isFinite(output)
    ? { model: found[1]!, input: input / 1e6, output: output / 1e6 }
    : undefined
}
