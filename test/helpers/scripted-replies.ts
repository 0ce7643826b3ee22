import { sendJson, type FakeHandler } from "./http-fake";

// Replies queued ahead of a fake's normal behaviour, one per request: what an upstream does when it
// fails (a status with headers, a body that is not what the wire format says, a hang).

export type ScriptedReply =
  /** A string body is sent verbatim, anything else as JSON. */
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { hang: true };

export type Scripted = {
  handler: FakeHandler;
  enqueue(...replies: ScriptedReply[]): void;
  /** Every later request gets this reply, until `clear`. */
  always(reply: ScriptedReply): void;
  clear(): void;
};

export function scripted(normal: FakeHandler): Scripted {
  const queue: ScriptedReply[] = [];
  let standing: ScriptedReply | null = null;
  return {
    async handler(request, response) {
      const reply = queue.shift() ?? standing;
      if (!reply) return normal(request, response);
      if ("hang" in reply) return new Promise<void>(() => {});
      sendJson(response, reply.status, reply.body ?? {}, reply.headers);
    },
    enqueue: (...replies) => void queue.push(...replies),
    always(reply) {
      standing = reply;
    },
    clear() {
      queue.length = 0;
      standing = null;
    },
  };
}
