import { schedules } from "@trigger.dev/sdk";
import { recoverExpiredWork } from "../src/domain/recovery";
import { withTaskServices } from "./services";

// Production's recovery sweep: every minute, work whose lease ran out (a task whose machine died, a
// Worker request that died between writing work and dispatching it) is dispatched again, or ends
// ABANDONED and refunded once it was recovered too often. With the default 30 s lease, work left by
// a crash is picked up within 90 s. The sweep dispatches through the SDK, so this task needs the
// project's TRIGGER_SECRET_KEY in its environment, as the Worker has it.
export const workRecovery = schedules.task({
  id: "work-recovery",
  cron: "* * * * *",
  run: () => withTaskServices((services) => recoverExpiredWork(services)),
});
