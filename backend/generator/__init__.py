"""The AI app generator: from a business user's prompt to a runnable, tested application that uses the
platform's models and MCP tools (analysis, architecture, file plan, generation job, sandboxed tests,
local deployment). Works offline and deterministically; an OpenAI-compatible LLM is optional."""
