import { anthropicMessages } from "./clients/anthropic.ts"
import { openaiChat, openaiResponses } from "./clients/openai.ts"
import { compatSuite } from "./suite.ts"

// One client per API through the matrix again, with the gateway's default caches (exact, then semantic) instead of
// the exact cache alone: the semantic layer must not change what a client sees.
compatSuite([openaiChat, anthropicMessages, openaiResponses], { ISARTOR__CACHE_MODE: "both" })
