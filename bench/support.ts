import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import postgres from "postgres";
import { sql } from "drizzle-orm";
import { createPostgresDb, type Db } from "../src/db/client";
import { migrateDatabase } from "../src/db/migrate";
import { accounts } from "../src/db/schema";
import { createList } from "../src/domain/lists";

// Shared plumbing for the benchmarks: a scratch database, the real Node server in its own process,
// a keep-alive HTTP load loop, and latency percentiles.

const SERVER_URL = process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:5432/test";

export async function scratchDatabase(name: string): Promise<{ url: string; db: Db; drop: () => Promise<void> }> {
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  const { db, close } = createPostgresDb(url.toString(), { max: 16 });
  await migrateDatabase(db, "postgres");
  return {
    url: url.toString(),
    db,
    drop: async () => {
      await close();
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}

export type NodeServer = { url: string; pid: number; stop: () => Promise<void> };

/**
 * Starts `npm start`'s entry in a child process with `env` (a database: DATABASE_URL, or DATA_DIR for
 * the embedded one); resolves once its whole banner is out, with the demo key it printed on a new
 * database (null on an existing one).
 */
export async function startNodeServer(env: Record<string, string>): Promise<NodeServer & { apiKey: string | null }> {
  // BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof") is passed to the server's Node, for profiling it.
  const extraArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...extraArgs, "--import", "tsx", "src/node.ts"], {
    env: { ...process.env, PORT: "0", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  const ready = new Promise<{ url: string; apiKey: string | null }>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      // The banner's last line names the reference, after the key (or the note that there is none).
      if (url && /^Reference: /m.test(output)) resolve({ url, apiKey: /(pk_live_[A-Za-z0-9_-]+)/.exec(output)?.[1] ?? null });
    });
    child.once("exit", (code) => reject(new Error(`server exited (${code}) before it was ready:\n${output}`)));
  });
  const { url, apiKey } = await ready;
  return {
    url,
    apiKey,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

export type LoadResult = { requests: number; seconds: number; perSecond: number; p50: number; p99: number; errors: number };

/** Runs `operation` from `concurrency` loops for `seconds`, after a warm-up; latencies in ms. */
export async function runLoad(concurrency: number, seconds: number, operation: () => Promise<boolean>, warmupSeconds = 1): Promise<LoadResult> {
  const loop = async (until: number, latencies: number[] | null, counters: { errors: number }) => {
    while (performance.now() < until) {
      const started = performance.now();
      const ok = await operation();
      if (latencies) latencies.push(performance.now() - started);
      if (!ok) counters.errors += 1;
    }
  };
  const warmupUntil = performance.now() + warmupSeconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, () => loop(warmupUntil, null, { errors: 0 })));
  const latencies: number[] = [];
  const counters = { errors: 0 };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => loop(started + seconds * 1000, latencies, counters)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { requests: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors: counters.errors };
}

/** A keep-alive JSON client with a fixed number of sockets. */
export function httpClient(baseUrl: string, sockets: number, headers: Record<string, string>) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const base = new URL(baseUrl);
  return {
    request(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            agent,
            host: base.hostname,
            port: base.port,
            method,
            path,
            headers: { ...headers, ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}) },
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk) => (text += chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on("error", reject);
        if (payload) req.write(payload);
        req.end();
      });
    },
    close: () => agent.destroy(),
  };
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits);

export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** `count` person rows (and their leads) in one statement, the way a big import leaves them, then analysed. */
export async function seedPeople(db: Db, workspaceId: string, listId: string, count: number): Promise<void> {
  await db.execute(sql`
    with person as (
      select 'Person' as first_name, 'No ' || g as last_name, 'Company ' || (g % 5000) as company, 'company' || (g % 5000) || '.example' as domain
      from generate_series(1, ${count}::int) g
    ), lead as (
      insert into leads (workspace_id, type, full_name, first_name, last_name, title, company_name, company_domain)
      select ${workspaceId}::uuid, 'person', first_name || ' ' || last_name, first_name, last_name, 'Engineer', company, domain from person
      returning id, full_name, first_name, last_name, title, company_name, company_domain
    )
    insert into list_rows (list_id, workspace_id, lead_id, full_name, first_name, last_name, role, company, domain, name_key)
    select ${listId}::uuid, ${workspaceId}::uuid, id, full_name, first_name, last_name, title, company_name, company_domain, lower(full_name)
    from lead`);
  await db.execute(sql`vacuum analyze leads, list_rows`);
}

/**
 * A scratch database with the real Node server on it, the demo workspace's id and a list in it:
 * what the server benches start from. `stop` ends the server and drops the database.
 */
export async function serverWithList(name: string) {
  const scratch = await scratchDatabase(`lead_bench_${name}_${process.pid}`);
  const started = await startNodeServer({ DATABASE_URL: scratch.url });
  const server = { ...started, apiKey: started.apiKey! };
  const [account] = await scratch.db.select({ workspaceId: accounts.workspaceId }).from(accounts).limit(1);
  const workspaceId = account!.workspaceId;
  const list = await createList(scratch.db, workspaceId, { name: "bench" });
  return {
    scratch,
    server,
    workspaceId,
    listId: list.id,
    stop: async () => {
      await server.stop();
      await scratch.drop();
    },
  };
}

/** One figure for the summary table `npm run bench` prints at the end (bench/run-all.ts reads these lines). */
export function summary(bench: string, figure: string, value: string): void {
  console.log(`SUMMARY\t${bench}\t${figure}\t${value}`);
}
