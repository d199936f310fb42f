// The building blocks of hostile bodies: JSON text JSON.stringify cannot write, edge-case strings, odd values, and
// helpers that make a field optional, rarely present, or now and then anything at all.
import fc from "fast-check"

// ---- JSON text with what JSON.stringify cannot write: duplicate keys, deep nesting, literals like 1e400 ----

class Raw {
  constructor(readonly json: string) {}
}
export class Entries {
  constructor(readonly entries: ReadonlyArray<readonly [string, unknown]>) {}
}

export const toJson = (value: unknown): string => {
  if (value instanceof Raw) return value.json
  if (value instanceof Entries) {
    return `{${value.entries.map(([key, item]) => `${JSON.stringify(key)}:${toJson(item)}`).join(",")}}`
  }
  if (Array.isArray(value)) return `[${value.map(toJson).join(",")}]`
  if (typeof value === "object" && value !== null) return toJson(new Entries(Object.entries(value)))
  return JSON.stringify(value) ?? "null"
}

// ---- values ----

const edgeStrings = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uDBFF",
  "\uDC00y",
  "\u202Eevil\u202C",
  "مرحبا بالعالم",
  "שלום עולם",
  "👨‍👩‍👧‍👦🏳️‍🌈🇩🇪",
  "e\u0301\u0302\u0303\u0304",
  "\uFEFF",
  "\u2028\u2029",
  "\\",
  "\"",
  "</script>",
  "%s%n%x",
  "${x}",
  "{{x}}",
  "null",
  "__proto__",
  "constructor",
  "toString",
  "\r\n\r\n",
  "\t",
  "What is the capital of France?",
  "How do I reset my password?"
]
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))

/** Prompts of 2–40 KB (20–40 KB for a pasted document): long runs of one pattern make a backtracking regex slow. */
export const longTextOf = (minChars: number) =>
  fc.tuple(
    // Whitespace is tabs and newlines: the fake upstream streams its echo word by word (space-separated), 2 ms a word.
    fc.constantFrom(
      "a",
      "ab",
      "foo_bar\t",
      "A",
      "\t",
      "1.",
      "x()",
      "Word\n",
      "camelCase",
      "é",
      "😀",
      "The_quick_brown_fox.\n",
      "\n",
      "aA_"
    ),
    fc.integer({ min: minChars, max: 40_000 })
  ).map(([unit, chars]) => unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars))
const longText = longTextOf(2_000)

export const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: utf16Unit, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 3, arbitrary: fc.constantFrom(...edgeStrings) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...edgeStrings), { maxLength: 8 }).map((parts) => parts.join(" ")) },
  { weight: 1, arbitrary: longText }
)

export const deepJson = fc.tuple(
  fc.constantFrom("[", "{\"a\":", "[{\"b\":", "{\"type\":\"text\",\"text\":"),
  fc.integer({ min: 64, max: 20_000 })
)
  .map(([open, depth]) =>
    new Raw(`${open.repeat(depth)}1${(open.startsWith("[{") ? "}]" : open.startsWith("[") ? "]" : "}").repeat(depth)}`)
  )

export const weird: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(new Raw("1e400"), new Raw("-0"), new Raw("123456789012345678901234567890"), new Raw("-1e-400")),
  text,
  fc.constant({ toString: 1 }),
  fc.constant({ valueOf: 1, toString: 1 }),
  fc.constant(new Raw("{\"__proto__\":{\"polluted\":1},\"constructor\":{\"prototype\":1}}")),
  fc.constant([]),
  fc.constant({}),
  deepJson,
  fc.array(text, { maxLength: 3 }),
  fc.dictionary(text, text, { maxKeys: 3 })
)

export const orWeird = <A>(arbitrary: fc.Arbitrary<A>, weight = 15) =>
  fc.oneof({ weight, arbitrary: arbitrary as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: weird })

/** `undefined` mostly, now and then a value (fc.option is the other way round: its `freq` is the chance of nil). */
export const rarely = (arbitrary: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary })

export const optionalFields = <T extends Record<string, fc.Arbitrary<unknown>>>(
  fields: T,
  required: ReadonlyArray<keyof T & string>
) => fc.record(fields, { requiredKeys: required as Array<keyof T & string> })

/** Unknown top-level fields (part of the cache key) and, sometimes, a duplicate of a known one. */
export const withExtras = (body: fc.Arbitrary<Record<string, unknown>>) =>
  fc.tuple(
    body,
    fc.array(
      fc.tuple(
        fc.oneof(text, fc.constantFrom("messages", "model", "stream", "prompt", "max_tokens", "__proto__")),
        weird
      ),
      { maxLength: 2 }
    ),
    fc.constantFrom("after", "before")
  ).map(([fields, extras, where]) => {
    const entries = Object.entries(fields)
    return new Entries(where === "after" ? [...entries, ...extras] : [...extras, ...entries])
  })
