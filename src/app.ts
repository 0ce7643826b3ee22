import { sql } from "drizzle-orm";
import { Hono, type Context, type ExecutionContext, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { compressResponses } from "./compression";
import { Scalar } from "@scalar/hono-api-reference";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./context";
import { API_KEY_PATTERN, authenticate, authenticateRequest, hashApiKey, unauthorized } from "./domain/accounts";
import { AppError, handleError } from "./errors";
import { uuidv7 } from "./ids";
import { MAX_BODY_BYTES } from "./limits";
import { handleMcpRequest } from "./mcp/handler";
import { apiRoutes, checksKeyItself, openApiDocument } from "./routes";
import { workAfterResponse } from "./after-response";
import { webhookRoutes } from "./routes/webhooks";
import type { Logger, ServicesFactory } from "./services";


const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** /healthz answers "down" rather than hang when the database does not answer within this. */
const HEALTH_TIMEOUT_MS = 2_000;

export type AppOptions = {
  /** One info line per request (the Node server; Workers have their own request logs). */
  requestLog?: Logger;
  /** Serves public/ (the Node server; a Worker's static assets are served before it runs). */
  staticFiles?: MiddlewareHandler<AppEnv>;
  /** gzip or deflate the responses a client accepts that way (the Node server; Workers compress at the edge). */
  compress?: boolean;
};

export function createApp(buildServices: ServicesFactory, options: AppOptions = {}) {
  const app = new Hono<AppEnv>();

  // First, so it sees every request to its end; it only reads, and sets no header after next().
  const requestLog = options.requestLog;
  if (requestLog) {
    app.use("*", async (c, next) => {
      const started = performance.now();
      await next();
      const ms = Math.round((performance.now() - started) * 10) / 10;
      requestLog.info("request", { method: c.req.method, path: c.req.path, status: c.res.status, ms, requestId: c.var.requestId });
    });
  }

  if (options.compress) app.use("*", compressResponses);

  app.use("*", async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && SANE_REQUEST_ID.test(given) ? given : `req_${uuidv7().replace(/-/g, "")}`;
    c.set("requestId", requestId);
    c.header("X-Request-Id", requestId);
    await next();
    // Responses built by the context carry it already; setting it again would re-wrap the finished
    // response. Only one built elsewhere (static files, a stream) needs it added.
    if (!c.res.headers.has("X-Request-Id")) c.header("X-Request-Id", requestId);
  });

  const withServices: MiddlewareHandler<AppEnv> = async (c, next) => {
    const executionCtx = executionContextOf(c);
    const { services, release } = await buildServices(c.req.raw, executionCtx);
    c.set("services", services);
    try {
      await next();
    } finally {
      // Work a handler left running after its response (a webhook's writes) needs the services until it ends.
      const background = workAfterResponse(c);
      if (background) {
        const done = release ? background.then(release) : background;
        if (executionCtx) executionCtx.waitUntil(done);
        else void done.catch((error: unknown) => services.logger.error("releasing request services failed", { error: String(error) }));
      } else if (release) {
        const done = release();
        if (executionCtx) executionCtx.waitUntil(done);
        else await done;
      }
    }
  };
  app.use("/api/*", withServices);
  // Provider callbacks: public (each proves itself by its signature), so outside the API key check.
  app.use("/webhooks/*", withServices);

  const requireApiKey: MiddlewareHandler<AppEnv> = async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const key = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    const { db, requestsPerMinute } = c.var.services;
    if (key && requestsPerMinute === null && checksKeyItself(c.req.method, c.req.path)) {
      // The route's own statement checks the key: one round trip for the whole request.
      if (!API_KEY_PATTERN.test(key)) throw unauthorized();
      c.set("apiKeyHash", await hashApiKey(key));
      await next();
      // It answered with another error before its statement ran (its input was invalid): a wrong key
      // is still told first, as on every other route. One more query, on that path only.
      if (c.error && !(c.error instanceof AppError && c.error.code === "UNAUTHORIZED") && !(await authenticate(db, key))) {
        c.res = handleError(unauthorized(), c);
      }
      return;
    }
    const authentication = key ? await authenticateRequest(db, key, requestsPerMinute) : null;
    if (!authentication) throw unauthorized();
    if (authentication.retryAfterSeconds !== null) {
      throw new AppError("RATE_LIMITED", `Too many requests: at most ${requestsPerMinute} a minute per workspace`, {
        headers: { "Retry-After": String(authentication.retryAfterSeconds) },
        extra: { retryAfter: authentication.retryAfterSeconds },
      });
    }
    c.set("principal", authentication.principal);
    await next();
  };
  app.use("/api/*", requireApiKey);

  app.use("/api/*", limitBody);

  app.route("/", apiRoutes());
  app.route("/webhooks", webhookRoutes);

  // The MCP server: the same key, and each tool call goes through the API itself, so a tool answers
  // exactly what the route would (validation, ownership, credits, the error envelope).
  app.all("/mcp", withServices, requireApiKey, limitBody, (c) => {
    const executionCtx = executionContextOf(c);
    return handleMcpRequest(c, (request) => Promise.resolve(app.fetch(request, c.env, executionCtx)));
  });

  // The live grid page (public/index.html) where public/ is served; a caller asking for JSON alone,
  // and an app without static files, gets the pointer to the API instead.
  const staticFiles = options.staticFiles;
  app.get("/", async (c, next) => {
    const accept = c.req.header("accept") ?? "";
    if (staticFiles && !(/\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept))) return staticFiles(c, next);
    return c.json({ name: "lead-enrichment-api", docs: "/docs", openapi: "/openapi.json", mcp: "/mcp", health: "/healthz" });
  });
  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  // Rendered in the browser from /openapi.json by the script the app itself serves: no CDN, no fonts
  // from elsewhere, no telemetry, so the reference works offline.
  app.get(
    "/docs",
    Scalar({
      url: "/openapi.json",
      cdn: "/assets/vendor/scalar-api-reference.js",
      pageTitle: "Lead enrichment API reference",
      withDefaultFonts: false,
      telemetry: false,
      hideClientButton: false,
      showDeveloperTools: "never",
      // "Ask AI" would call Scalar's hosted service.
      agent: { disabled: true },
      authentication: { preferredSecurityScheme: "bearerAuth" },
    }),
  );
  if (options.staticFiles) app.use("/assets/*", options.staticFiles);
  app.get("/healthz", withServices, async (c) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = await Promise.race([
      c.var.services.db.execute(sql`select 1`).then(
        () => true,
        () => false,
      ),
      new Promise<false>((done) => (timer = setTimeout(done, HEALTH_TIMEOUT_MS, false))),
    ]);
    clearTimeout(timer);
    if (!answered) {
      throw new AppError("UNAVAILABLE", "The database is unreachable", { headers: { "Retry-After": "5" }, extra: { ok: false, database: "down" } });
    }
    return c.json({ ok: true, database: "up" });
  });

  app.notFound((c) => handleError(new AppError("NOT_FOUND", "Route not found"), c));

  app.onError((err, c) => {
    if (err instanceof HTTPException && !(err instanceof AppError)) {
      // Hono's own 4xx (e.g. malformed JSON in the body) in our envelope.
      const wrapped =
        err.status === 400
          ? AppError.validation([{ path: "", message: err.message || "Malformed request body" }])
          : new AppError(err.status === 413 ? "PAYLOAD_TOO_LARGE" : "VALIDATION_ERROR", err.message, { status: err.status as 400 });
      return handleError(wrapped, c);
    }
    return handleError(err, c);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;

const tooLarge = (): never => {
  throw new AppError("PAYLOAD_TOO_LARGE", `Request body exceeds ${MAX_BODY_BYTES} bytes`);
};

const streamedBodyLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });

/**
 * MAX_BODY_BYTES for every request body. On Node a request without a body (no Content-Length, no
 * Transfer-Encoding), or one with a Content-Length, is decided from its headers alone: asking for
 * the body stream, as the general check does first, makes the Node adapter build a whole web
 * Request for every request. Only a body of unknown length is counted as it streams.
 */
const limitBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const headers = c.req.raw.headers;
  if (!headers.has("transfer-encoding")) {
    const length = headers.get("content-length");
    // Over HTTP/1.1 on Node a request with neither header has no body. Elsewhere (a Worker's HTTP/2
    // uploads, a request built in-process) one may stream without a length: it is counted.
    if (length === null && (isNodeRequest(c) || !c.req.raw.body)) return next();
    if (length !== null && /^\d+$/.test(length.trim())) return Number(length) > MAX_BODY_BYTES ? tooLarge() : next();
  }
  return streamedBodyLimit(c, next);
};

/** The Worker's execution context; Node has none. */
function executionContextOf(c: Context<AppEnv>): ExecutionContext | undefined {
  // Hono's getter throws where there is none (every Node request): not asked for there.
  if (isNodeRequest(c)) return undefined;
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

/** @hono/node-server passes the Node request and response as the environment. */
const isNodeRequest = (c: Context<AppEnv>) => typeof (c.env as { incoming?: unknown } | undefined)?.incoming === "object";
