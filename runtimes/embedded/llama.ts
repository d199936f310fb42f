import { access, constants } from "node:fs/promises"
import type { EmbeddedEngine, LocalMessage } from "../../core/router/LocalModel.ts"

/**
 * The parts of node-llama-cpp (v3) this adapter uses. The package is optional — a native addon of several hundred
 * MB with its own binaries — so it is imported by name at run time and typed here, not installed with Isartor.
 */
interface ChatHistoryItem {
  readonly type: "system" | "user" | "model"
  readonly text?: string
  readonly response?: ReadonlyArray<string>
}
interface LlamaChatSession {
  setChatHistory(history: ReadonlyArray<ChatHistoryItem>): void
  prompt(text: string, options: { maxTokens: number; temperature?: number }): Promise<string>
  dispose(): void
}
interface LlamaContext {
  getSequence(): { clearHistory(): Promise<void> }
  dispose(): Promise<void>
}
interface NodeLlamaCpp {
  getLlama(): Promise<
    {
      loadModel(
        options: { modelPath: string }
      ): Promise<{ createContext(): Promise<LlamaContext>; dispose(): Promise<void> }>
    }
  >
  LlamaChatSession: new(options: { contextSequence: unknown }) => LlamaChatSession
}

const PACKAGE = "node-llama-cpp"

/**
 * Loads a GGUF model through node-llama-cpp for `ISARTOR__LAYER2__INFERENCE_ENGINE=embedded`. Fails with a message
 * that says what to do: set the path, fix the file, or `npm install node-llama-cpp`. One context, one sequence:
 * calls take turns (a small model on a CPU gains nothing from running two at once).
 */
export const loadEmbeddedEngine = async (modelPath: string): Promise<EmbeddedEngine> => {
  await access(modelPath, constants.R_OK).catch(() => {
    throw new Error(`the model file ISARTOR__EMBEDDED__MODEL_PATH=${modelPath} does not exist or cannot be read`)
  })
  const llamaCpp = await (import(PACKAGE) as Promise<NodeLlamaCpp>).catch(() => {
    throw new Error(`the ${PACKAGE} package is not installed (npm install ${PACKAGE}@3)`)
  })
  const llama = await llamaCpp.getLlama()
  const model = await llama.loadModel({ modelPath }).catch((error: unknown) => {
    throw new Error(
      `cannot load ${modelPath} (ISARTOR__EMBEDDED__MODEL_PATH): ${
        error instanceof Error ? error.message : String(error)
      }`
    )
  })
  const context = await model.createContext()
  const sequence = context.getSequence()
  let turn: Promise<unknown> = Promise.resolve()
  const chat = async (messages: ReadonlyArray<LocalMessage>, options: { maxTokens: number; temperature?: number }) => {
    await sequence.clearHistory()
    const session = new llamaCpp.LlamaChatSession({ contextSequence: sequence })
    try {
      const history = messages.slice(0, -1).map((message): ChatHistoryItem =>
        message.role === "assistant"
          ? { type: "model", response: [message.content] }
          : { type: message.role, text: message.content }
      )
      session.setChatHistory(history)
      return await session.prompt(messages.at(-1)!.content, options)
    } finally {
      session.dispose()
    }
  }
  return {
    name: `node-llama-cpp:${modelPath.split("/").at(-1)}`,
    chat: (messages, options) => {
      const result = turn.then(() => chat(messages, options))
      turn = result.catch(() => undefined)
      return result
    },
    dispose: async () => {
      await context.dispose()
      await model.dispose()
    }
  }
}
