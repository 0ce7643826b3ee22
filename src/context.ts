import { Hono } from "hono";
import type { Principal } from "./domain/accounts";
import type { Services } from "./services";

export type AppEnv = {
  Variables: { requestId: string; services: Services; principal: Principal };
};

/** A router for one resource; mounted under /api by the app. */
export const router = () => new Hono<AppEnv>();
