import type { AiAnswer, AiClient } from "../../src/providers/ai";

/**
 * An AI model that answers the rendered question (the second line of the instructions) as
 * `<question>`, so a dependent cell's value shows what it read. `asked`, when given, receives every
 * question in order; a question containing `failOn` fails, not retryably.
 */
export function echoModel(options: { asked?: string[]; failOn?: string } = {}): AiClient {
  return {
    provider: "scripted",
    model: "echo-1",
    async answer(request): Promise<AiAnswer> {
      const question = request.instructions.split("\n")[1]!;
      options.asked?.push(question);
      if (options.failOn !== undefined && question.includes(options.failOn)) throw Object.assign(new Error("model refused"), { retryable: false });
      return { value: `<${question}>`, reasoning: "echoed", sources: [], metadata: { provider: "scripted", model: "echo-1" } };
    },
  };
}
