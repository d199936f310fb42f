import { Effect, Redacted } from "effect"
import { fromGeminiResponse, geminiStreamToOpenAI, toGeminiRequest } from "../formats/gemini.ts"
import { untranslatableTools } from "../formats/openai.ts"
import { makeTransport } from "../transport/http.ts"
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
    const send = (body: Record<string, unknown>, model: string, stream: boolean) => {
      if (key === "") {
        return Effect.fail(transport.notConfigured(settings.keyVariable))
      }
      const untranslatable = untranslatableTools(body, "gemini")
      if (untranslatable) return Effect.fail(transport.fail("BadRequest", untranslatable, { upstreamStatus: 400 }))
      const method = stream ? "streamGenerateContent?alt=sse" : "generateContent"
      return transport.post(
        `${base}/v1beta/models/${encodeURIComponent(model)}:${method}`,
        { "x-goog-api-key": key },
        toGeminiRequest(body)
      )
    }
    return {
      id: "gemini",
      configured: key !== "",
      complete: (request) => {
        const model = settings.model ?? request.model
        return send(request.body, model, false).pipe(
          Effect.flatMap((response) => transport.json<Record<string, unknown>>(response)),
          Effect.map((response) => fromGeminiResponse(response, model)),
          Effect.withSpan("Provider.complete", { attributes: { provider: "gemini" } }, { captureStackTrace: false })
        )
      },
      stream: (request) => {
        const model = settings.model ?? request.model
        return send(request.body, model, true).pipe(
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
