import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { continueAfterResponse } from "../after-response";
import { router } from "../context";
import { applyReceivedResult, bulkContactProvider, receiveSubmissionResult } from "../domain/enrichment/contacts";
import { settleRunSubmission } from "../domain/enrichment-runs/task";
import { AppError } from "../errors";
import { ProviderRequestError } from "../providers/http";
import { uuid, validate } from "../validation";

// Public routes providers call back (no API key: each call proves itself by its signature). They
// answer as soon as the delivery is verified and stored; the writing happens after the response.

const MAX_WEBHOOK_BYTES = 8 * 1024 * 1024;

export const webhookRoutes = router();

webhookRoutes.use(
  "*",
  bodyLimit({
    maxSize: MAX_WEBHOOK_BYTES,
    onError: () => {
      throw new AppError("PAYLOAD_TOO_LARGE", `Request body exceeds ${MAX_WEBHOOK_BYTES} bytes`);
    },
  }),
);

/**
 * FullEnrich's batch-finished callback for one of our submissions. 401 unless FullEnrich's body
 * signature (and, when FULLENRICH_WEBHOOK_SECRET is set, the URL's `sig`) verifies; 400 for a body
 * that is not a finished result; 404 for an unknown submission; 409 for a result of another
 * enrichment. A submission that already has its result answers 200 with `duplicate: true` and writes
 * nothing: FullEnrich redelivers on any non-2xx, and a poll may have settled it first.
 */
webhookRoutes.post("/fullenrich/:submissionId", validate("param", z.object({ submissionId: uuid() })), async (c) => {
  const { services } = c.var;
  const { submissionId } = c.req.valid("param");
  const provider = bulkContactProvider(services.providers);
  if (!provider) throw AppError.notFound("Webhook");

  const rawBody = await c.req.text();
  const authentic = await provider.bulk.verifyWebhook({ submissionId, rawBody, headers: c.req.raw.headers, query: new URL(c.req.url).searchParams });
  if (!authentic) throw new AppError("UNAUTHORIZED", "Invalid webhook signature");

  let payload: unknown;
  let providerRef: string;
  try {
    payload = JSON.parse(rawBody);
    providerRef = provider.bulk.finishedRef(payload);
  } catch (error) {
    const message = error instanceof ProviderRequestError ? error.message : "Body is not JSON";
    throw AppError.validation([{ path: "", message }], message);
  }

  const receipt = await receiveSubmissionResult(services.db, submissionId, providerRef, payload);
  if (receipt === "unknown") throw AppError.notFound("Submission");
  if (receipt === "other_enrichment") throw new AppError("CONFLICT", "This result belongs to another enrichment than the submission's");
  // Should the writing fail, the result is stored: the task's next poll writes it.
  if (receipt === "accepted") {
    continueAfterResponse(c, "webhook result not written", async () => {
      await applyReceivedResult(services, provider, submissionId);
      // An enrichment run's submission: its items are written from the result too.
      await settleRunSubmission(services, submissionId);
    });
  }
  return c.json({ received: true, duplicate: receipt === "duplicate" });
});
