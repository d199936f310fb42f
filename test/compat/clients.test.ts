import { aiSdkAnthropic, aiSdkOpenAIChat } from "./clients/aiSdk.ts"
import { anthropicMessages } from "./clients/anthropic.ts"
import { langchainChatOpenAI } from "./clients/langchain.ts"
import { openaiChat } from "./clients/openai.ts"
import { compatSuite } from "./suite.ts"

// Chat Completions and Messages clients; the Responses API clients are in responses.test.ts.
compatSuite([openaiChat, anthropicMessages, langchainChatOpenAI, aiSdkOpenAIChat, aiSdkAnthropic])
