import { Exit, Option } from "effect"
import fc from "fast-check"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { describe, it } from "node:test"
import { MAX_BODY_DEPTH } from "../../core/domain/jsonBody.ts"
import { jsonBytesParser, parseJsonBytes } from "../../core/domain/jsonBytes.ts"
import { parseReceived, receivedAsBytes } from "../../core/domain/receivedBody.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** Splits anything over 8 bytes: every value of a few members is split, down to its smallest pieces. */
const splitting = jsonBytesParser(8)

/** What `JSON.parse` makes of the bytes, or `undefined` when it throws. */
const parsedWhole = (bytes: Uint8Array) => {
  try {
    return { value: JSON.parse(decoder.decode(bytes)) as unknown }
  } catch {
    return undefined
  }
}

/** The same value with the same members in the same order (`deepEqual` alone ignores the order of keys). */
const assertSame = (actual: unknown, expected: unknown) => {
  assert.deepEqual(actual, expected)
  assert.equal(JSON.stringify(actual), JSON.stringify(expected))
}

const container = fc.oneof(
  fc.dictionary(fc.string({ unit: "grapheme" }), fc.jsonValue(), { maxKeys: 8 }),
  fc.array(fc.jsonValue(), { maxLength: 8 })
)
const spacing = fc.constantFrom(undefined, 1, "\t", " \n ")

describe("a JSON body parsed from its bytes in pieces", () => {
  it("is what JSON.parse makes of its text, split however small", () => {
    fc.assert(
      fc.property(container, spacing, (value, space) => {
        const bytes = encoder.encode(` ${JSON.stringify(value, null, space)}\n`)
        const parsed = splitting(bytes)
        if (bytes.length <= 8) return assert.equal(parsed, undefined)
        // Left to JSON.parse, which makes such a key an own property (see the test below).
        if (parsed === undefined && decoder.decode(bytes).includes("\"__proto__\"")) return
        assert.ok(parsed !== undefined, decoder.decode(bytes))
        assertSame(parsed.value, JSON.parse(decoder.decode(bytes)))
      }),
      { numRuns: 3000 }
    )
  })

  it("gives up on a broken body, never returning what JSON.parse would refuse or read otherwise", () => {
    const broken = fc.tuple(
      container,
      fc.nat(),
      fc.constantFrom("", ",", "]", "}", "[", "{", ":", "\"", "\\", "x", " ")
    )
    fc.assert(
      fc.property(broken, ([value, at, inserted]) => {
        const text = JSON.stringify(value)
        const cut = at % (text.length + 1)
        // Replace one character (or remove it) at `cut`.
        const bytes = encoder.encode(`${text.slice(0, cut)}${inserted}${text.slice(cut + 1)}`)
        const parsed = splitting(bytes)
        if (parsed === undefined) return
        const whole = parsedWhole(bytes)
        assert.ok(whole !== undefined, `accepted what JSON.parse refuses: ${decoder.decode(bytes)}`)
        assertSame(parsed.value, whole.value)
      }),
      { numRuns: 5000 }
    )
  })

  it("keeps duplicate keys as JSON.parse does, and leaves a __proto__ key to it", () => {
    const duplicate = encoder.encode(`{"a": [1, 2, 3, 4], "b": "two words", "a": {"x": "the last one wins"}}`)
    assertSame(splitting(duplicate)!.value, JSON.parse(decoder.decode(duplicate)))
    assert.equal(splitting(encoder.encode(`{"__proto__": {"polluted": true}, "b": "some padding"}`)), undefined)
  })

  it("bounds the depth of a large body over all of it, pieces parsed whole included", () => {
    const nested = (depth: number) => `${"[".repeat(depth - 1)}1${"]".repeat(depth - 1)}`
    const body = (depth: number) =>
      encoder.encode(JSON.stringify({ padding: "x".repeat(40 * 1024) }).replace(/}$/, `, "deep": ${nested(depth)}}`))
    // The body's own object is the first level.
    assert.ok(parseJsonBytes(body(MAX_BODY_DEPTH)) !== undefined)
    assert.equal(parseJsonBytes(body(MAX_BODY_DEPTH + 1)), undefined)
  })

  it("parses a recorded Claude Code request grown past the piece size as JSON.parse does", () => {
    const recorded = JSON.parse(
      readFileSync(new URL("../fixtures/clients/claude-code.json", import.meta.url), "utf8")
    ) as Array<{ body: { messages: Array<unknown> } }>
    const body = recorded[0]!.body
    const grown = { ...body, messages: Array.from({ length: 40 }, () => body.messages).flat() }
    const bytes = encoder.encode(JSON.stringify(grown))
    assert.ok(bytes.length > 64 * 1024)
    assertSame(parseJsonBytes(bytes)!.value, grown)
  })
})

describe("a received body parsed whole or in pieces (GatewayOptions.parseInPieces)", () => {
  const grownBody = () => {
    const recorded = JSON.parse(
      readFileSync(new URL("../fixtures/clients/claude-code.json", import.meta.url), "utf8")
    ) as Array<{ body: { messages: Array<unknown> } }>
    const body = recorded[0]!.body
    return { ...body, messages: Array.from({ length: 40 }, () => body.messages).flat() }
  }

  it("gives the same value either way, and the same client message for a broken body", () => {
    const grown = grownBody()
    const bytes = encoder.encode(JSON.stringify(grown))
    const whole = parseReceived(receivedAsBytes(bytes), false)
    const pieces = parseReceived(receivedAsBytes(bytes), true)
    assert.ok(Exit.isSuccess(whole) && Exit.isSuccess(pieces))
    assertSame(whole.value, grown)
    assertSame(pieces.value, grown)
    const broken = receivedAsBytes(bytes.slice(0, bytes.length - 1))
    const messageOf = (exit: Exit.Exit<unknown, { readonly message: string }>) => {
      assert.ok(Exit.isFailure(exit), "a body cut short is refused")
      return Exit.findErrorOption(exit).pipe(Option.map((error) => error.message), Option.getOrElse(() => ""))
    }
    assert.equal(messageOf(parseReceived(broken, false)), messageOf(parseReceived(broken, true)))
  })
})
