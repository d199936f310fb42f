import { Effect, Redacted } from "effect"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import { fromGeminiResponse, geminiStreamToOpenAI, toGeminiRequest } from "../formats/gemini.ts"
import { untranslatableTools } from "../formats/openai.ts"
import { JsonText, makeTransport } from "../transport/http.ts"
import { checkPrintableKey, type ProviderDefinition } from "./shared/ProviderDefinition.ts"

/** Google Gemini: `generateContent` / `streamGenerateContent?alt=sse`, `x-goog-api-key`. */
export const gemini: ProviderDefinition = {
  id: "gemini",
  requiresKey: true,
  checkKey: checkPrintableKey,
  make: (settings) => {
    const transport = makeTransport("gemini", { apiKey: settings.apiKey, ...settings.limits })
    const base = (settings.url || "https://generativelanguage.googleapis.com").replace(/\/+$/, "").replace(
      /\/v1(beta)?$/,
      ""
    )
    const key = Redacted.value(settings.apiKey)
    const send = (request: ChatRequest, model: string, stream: boolean) => {
      if (key === "") {
        return Effect.fail(transport.notConfigured(settings.keyVariable))
      }
      const method = stream ? "streamGenerateContent?alt=sse" : "generateContent"
      const url = `${base}/v1beta/models/${encodeURIComponent(model)}:${method}`
      // A Gemini client's request goes as it came, byte for byte: thought signatures, safety settings and all.
      if (request.source?.format === "gemini") {
        return transport.post(url, { "x-goog-api-key": key }, new JsonText(request.source))
      }
      const untranslatable = untranslatableTools(request.body, "gemini")
      if (untranslatable) return Effect.fail(transport.fail("BadRequest", untranslatable, { upstreamStatus: 400 }))
      return transport.post(url, { "x-goog-api-key": key }, toGeminiRequest(request.body))
    }
    return {
      id: "gemini",
      configured: key !== "",
      complete: (request) => {
        const model = settings.model ?? request.model
        return send(request, model, false).pipe(
          Effect.flatMap((response) => transport.json<Record<string, unknown>>(response)),
          Effect.map((response) => fromGeminiResponse(response, model)),
          Effect.withSpan("Provider.complete", { attributes: { provider: "gemini" } }, { captureStackTrace: false })
        )
      },
      stream: (request) => {
        const model = settings.model ?? request.model
        return send(request, model, true).pipe(
          Effect.flatMap((response) => {
            const includeUsage =
              (request.body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true
            const translate = geminiStreamToOpenAI(model, includeUsage)
            return transport.stream(response, {
              onEvent: (data) => translate.onEvent(data),
              // Gemini has no end-of-stream event: the finish reasons on the chunks say whether the answer is whole.
              onEnd: () => ({ chunks: translate.onEnd(), finished: true })
            })
          }),
          Effect.withSpan("Provider.stream", { attributes: { provider: "gemini" } }, { captureStackTrace: false })
        )
      }
    }
  }
}
