import { afterAll, beforeEach } from "vitest";
import { createTriggerSdkDispatcher } from "../../src/dispatch/trigger-sdk";
import { startFakeTrigger } from "./fake-trigger";
import { useHarness } from "./harness";

/**
 * The harness with the app dispatching through the real Trigger.dev SDK to a fake Trigger.dev on
 * loopback whose runs do nothing, so cells and runs stay as the requests left them. Faults and
 * records are cleared before every test.
 */
export async function useHarnessOverFakeTrigger(options: { max?: number } = {}) {
  const fake = await startFakeTrigger();
  const h = useHarness({
    max: options.max ?? 20,
    dispatcher: () => createTriggerSdkDispatcher({ apiUrl: fake.url, secretKey: fake.secretKey, timeoutMs: 500 }),
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.clearFaults();
    fake.clearRecords();
  });
  return { fake, h };
}
