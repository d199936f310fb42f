import { aiSdkAnthropic, aiSdkOpenAIChat, anthropicMessages, langchainChatOpenAI, openaiChat } from "./clients.ts"
import { compatSuite } from "./suite.ts"

// Chat Completions and Messages clients; the Responses API clients are in responses.test.ts.
compatSuite([openaiChat, anthropicMessages, langchainChatOpenAI, aiSdkOpenAIChat, aiSdkAnthropic])
