import { Hono } from "hono";
import type { Principal } from "./domain/accounts";
import type { Services } from "./services";

export type AppEnv = {
  Variables: {
    requestId: string;
    services: Services;
    /** The caller, once the key middleware checked the key (every route but those that check it themselves). */
    principal: Principal;
    /** For a route that checks the key in its own statement (`checksKeyItself`): the key's hash, not yet checked. */
    apiKeyHash?: string;
  };
};

/** A router for one resource; mounted under /api by the app. */
export const router = () => new Hono<AppEnv>();
