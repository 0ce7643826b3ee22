import { z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { continueAfterResponse } from "../../after-response";
import type { StreamItem } from "../../domain/event-feed";
import { formatPosition, parsePosition } from "../../domain/events";
import { requireList } from "../../domain/lists";
import { LIMITS } from "../../limits";
import { text } from "../../validation";
import { defineOperation } from "../operation";
import { listIdParam } from "./schemas";

export const eventsQuery = z.object({
  since: text(LIMITS.token)
    .optional()
    .openapi({ description: "Replay every event after this event id (as `Last-Event-ID` does; the header wins when both are given)." }),
});

const EVENTS_DESCRIPTION = `A \`text/event-stream\` of the list's changes, open until the caller closes it:

- \`event: cell\`, data \`{ subject, columnId, rowId | companyRowId, status, value, error, updatedAt }\`, for every cell write (manual writes, queueing, claims, results, failures), in the order they were made;
- \`event: progress\`, data \`{ columnId, progress, credits }\` (as on the column), at most about once a second per column, after the cell events that changed it;
- \`event: balance\`, data \`{ balance }\`, when the workspace's balance changed;
- a comment line (\`: keep-alive\`) at least every 15 seconds.

Each event has an \`id:\`. Reconnecting with \`Last-Event-ID: <id>\` (or \`?since=<id>\`) replays every event after it, then continues: nothing is lost or repeated across a reconnect. Without either the stream starts now: open it, then read the list, and apply the events. An id older than the replay window (a day by default) is answered 410 \`CURSOR_EXPIRED\`: read the list again and reconnect without one.`;

export const streamListEventsOperation = defineOperation(
  {
    method: "get",
    path: "/api/lists/{id}/events",
    operationId: "streamListEvents",
    tag: "lists",
    command: "events",
    summary: "Follow the list live: a server-sent event stream of its cell changes, column progress and balance",
    description: EVENTS_DESCRIPTION,
    params: listIdParam,
    query: eventsQuery,
    responses: {
      200: {
        description: "The stream (text/event-stream)",
        mediaType: "text/event-stream",
        schema: z.string().openapi({ example: 'event: cell\nid: 7412-88\ndata: {"subject":"person","columnId":"…","rowId":"…","status":"completed","value":true,"error":null,"updatedAt":"…"}\n\n' }),
      },
    },
    errors: [404, 410],
    stream: true,
  },
  async (c) => {
    const { services, principal } = c.var;
    const listId = c.req.valid("param").id;
    const lastEventId = c.req.header("last-event-id");
    const since = c.req.valid("query").since;
    const after = lastEventId ? parsePosition(lastEventId, "Last-Event-ID") : since ? parsePosition(since, "since") : null;
    await requireList(services.db, principal.workspaceId, listId);
    // Subscribed before the answer starts, so a 410 is still an ordinary error answer.
    const subscription = await services.events.subscribe({ listId, workspaceId: principal.workspaceId, after });
    c.req.raw.signal.addEventListener("abort", () => subscription.close());
    continueAfterResponse(c, "event stream failed", () => subscription.closed);
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => subscription.close());
      await stream.write(`retry: 2000\n: events of list ${listId}\n\n`);
      for await (const item of subscription) {
        if (stream.aborted || stream.closed) break;
        await writeItem(stream, item);
      }
      subscription.close();
    });
  },
);

type SseStream = { write(text: string): Promise<unknown>; writeSSE(message: { event: string; id: string; data: string }): Promise<void> };

function writeItem(stream: SseStream, item: StreamItem): Promise<unknown> {
  switch (item.kind) {
    case "heartbeat":
      return stream.write(": keep-alive\n\n");
    case "cell": {
      const { subject, columnId, rowId, status, value, error, updatedAt } = item.event;
      const row = subject === "person" ? { rowId } : { companyRowId: rowId };
      return stream.writeSSE({ event: "cell", id: formatPosition(item.position), data: JSON.stringify({ subject, columnId, ...row, status, value, error, updatedAt }) });
    }
    case "progress":
      return stream.writeSSE({
        event: "progress",
        id: formatPosition(item.position),
        data: JSON.stringify({ columnId: item.columnId, progress: item.stats.progress, credits: item.stats.credits }),
      });
    case "balance":
      return stream.writeSSE({ event: "balance", id: formatPosition(item.position), data: JSON.stringify({ balance: item.balance }) });
  }
}
