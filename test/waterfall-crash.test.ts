import { sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rowsOf, type Db } from "../src/db/client";
import { createAccount } from "../src/domain/accounts";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { apiClient, forgetChildren, killAndConfirm, reportChildrenOnFailure, scratchDatabase, startServer, stopChildren, waitUntil } from "./helpers/child-server";
import { startFakeFullEnrich } from "./helpers/fake-fullenrich";
import { startFakeHunter, type HunterFinding, type HunterQuery } from "./helpers/fake-hunter";

// A contact column's waterfall (FullEnrich, then Hunter for the rows FullEnrich missed) across a real
// crash: the server runs in a child process, is SIGKILLed while Hunter's step is in flight (Hunter
// holds one request without answering), and a new server is started on the same Postgres database.
// Recovery must resume each cell at Hunter, its first provider without a stored try: FullEnrich is
// never asked again, Hunter is asked again for every row it was asked for before the kill (none of
// its answers of the first life were stored), and each row is charged once, for the provider that
// matched, at that provider's price.

const FE_KEY = "fe_crash_key_51d";
const HUNTER_KEY = "hunter_crash_key_7a0";
const LEASE_MS = 2_000;
const INTERVAL_MS = 500;
/** What recovery and the rest of the work may take after the restart on a busy two-core machine. */
const SETTLE_BUDGET_MS = LEASE_MS + INTERVAL_MS + 20_000;
const CREDITS = 100;
const PRICE = { fullenrich: DEFAULT_CREDIT_COSTS.EMAIL_LOOKUP!, hunter: DEFAULT_CREDIT_COSTS.HUNTER_EMAIL_LOOKUP! };

// Rows with a name and a domain: FullEnrich's directory finds them. Rows with a company but no
// domain: FullEnrich takes them and finds nothing; Hunter finds three of them (not Nobody Known).
// Cher: a first name only, neither provider can look her up.
const PEOPLE: Array<Record<string, string>> = [
  { firstName: "Ada", lastName: "Lovelace", domain: "analytical.example" },
  { firstName: "Alan", lastName: "Turing", company: "Bletchley Labs" },
  { firstName: "Grace", lastName: "Hopper", domain: "navy.example" },
  { firstName: "Katherine", lastName: "Johnson", company: "Langley Research" },
  { firstName: "Edsger", lastName: "Dijkstra", domain: "eindhoven.example" },
  { firstName: "Barbara", lastName: "Liskov", company: "Clu Systems" },
  { firstName: "Nobody", lastName: "Known", company: "Ghost Corp" },
  { firstName: "Cher" },
];
const FE_FOUND = new Map([
  [0, "ada.lovelace@analytical.example"],
  [2, "grace.hopper@navy.example"],
  [4, "edsger.dijkstra@eindhoven.example"],
]);
/** What Hunter knows, by last name: everyone but Nobody Known (also those FullEnrich finds, under other addresses, so a wrong ask would show). */
const HUNTER_KNOWS: Record<string, string> = {
  Lovelace: "ada@hunter.example",
  Turing: "alan@bletchley.example",
  Hopper: "grace@hunter.example",
  Johnson: "katherine@langley.example",
  Dijkstra: "edsger@hunter.example",
  Liskov: "barbara@clu.example",
};
const HUNTER_FOUND = new Map([
  [1, "alan@bletchley.example"],
  [3, "katherine@langley.example"],
  [5, "barbara@clu.example"],
]);
/** The rows FullEnrich is sent (all but Cher) and the rows Hunter is asked for (those FullEnrich missed, but Cher), as each receives them. */
const SENT_TO_FULLENRICH = ["Dijkstra", "Hopper", "Johnson", "Known", "Liskov", "Lovelace", "Turing"];
const ASKED_OF_HUNTER: HunterQuery[] = [
  { company: "Ghost Corp", first_name: "Nobody", last_name: "Known" },
  { company: "Clu Systems", first_name: "Barbara", last_name: "Liskov" },
  { company: "Langley Research", first_name: "Katherine", last_name: "Johnson" },
  { company: "Bletchley Labs", first_name: "Alan", last_name: "Turing" },
];
const hunterDirectory = (query: HunterQuery): HunterFinding => {
  const email = query.last_name ? HUNTER_KNOWS[query.last_name] : undefined;
  return email ? { email, score: 90 } : "no_email";
};

const byLastName = (a: { last_name?: string }, b: { last_name?: string }) => (a.last_name ?? "").localeCompare(b.last_name ?? "");
const TIME = expect.any(Number);
const OPEN = new Set(["pending", "processing"]);

beforeEach(forgetChildren);
afterEach(stopChildren);


type StoredAttempts = { runToken: string; attempts: Array<{ provider: string; outcome: string; cost: number; durationMs: number; reason?: string }> };
type CellRow = { rowId: string; status: string; value: unknown; error: string | null; paid: number; token: string | null; recoveries: number; attempts: StoredAttempts | null };
type LedgerRow = { kind: string; action: string; units: number; delta: number; referenceType: string | null; referenceId: string | null; dedupeKey: string | null; note: string | null };

/** The column's cells in row order, straight from the database. */
async function cellsIn(db: Db, columnId: string): Promise<CellRow[]> {
  return rowsOf<CellRow>(
    await db.execute(sql`
      select c.row_id as "rowId", c.status, c.value, c.error, c.paid::int as paid, c.run_token as token, c.recoveries, c.attempts
      from list_cells c join list_rows r on r.id = c.row_id
      where c.column_id = ${columnId}
      order by r.position`),
  );
}

async function ledgerOf(db: Db, workspaceId: string): Promise<LedgerRow[]> {
  return rowsOf<LedgerRow>(
    await db.execute(sql`
      select kind, action, units, delta::int as delta, reference_type as "referenceType", reference_id as "referenceId", dedupe_key as "dedupeKey", note
      from credit_ledger where workspace_id = ${workspaceId} order by created_at, id`),
  );
}

async function workspaceMoney(db: Db, workspaceId: string): Promise<{ balance: number; held: number }> {
  const [row] = rowsOf<{ balance: number; held: number }>(
    await db.execute(sql`select credit_balance::int as balance, credit_held::int as held from workspaces where id = ${workspaceId}`),
  );
  return row!;
}


describe("a fullenrich → hunter waterfall, the server SIGKILLed inside Hunter's step", () => {
  it("resumes every cell at Hunter after a restart on the same database: FullEnrich not asked again, each row charged once for its match", async (context) => {
    reportChildrenOnFailure(context);
    const scratch = await scratchDatabase("waterfall");
    const fullEnrich = await startFakeFullEnrich({ apiKey: FE_KEY });
    const hunter = await startFakeHunter({ apiKey: HUNTER_KEY, directory: hunterDirectory });
    try {
      const account = await createAccount(scratch.db, { email: `waterfall-crash-${crypto.randomUUID()}@example.test`, fullName: "Waterfall Crash", credits: CREDITS });
      const settings = {
        DATABASE_URL: scratch.url,
        WORK_LEASE_MS: String(LEASE_MS),
        RECOVERY_INTERVAL_MS: String(INTERVAL_MS),
        FULLENRICH_API_KEY: FE_KEY,
        FULLENRICH_BASE_URL: fullEnrich.url,
        FULLENRICH_POLL_INTERVAL_MS: "50",
        FULLENRICH_POLL_TIMEOUT_MS: "20000",
        FULLENRICH_TIMEOUT_MS: "5000",
        HUNTER_API_KEY: HUNTER_KEY,
        HUNTER_BASE_URL: `${hunter.url}/v2`,
        // Far beyond the test: the held request is still waiting for its answer when the kill comes.
        HUNTER_TIMEOUT_MS: "60000",
        HUNTER_MAX_ATTEMPTS: "2",
        HUNTER_CONCURRENCY: "4",
      };
      // Hunter's first request gets no answer: the step cannot finish in the first life.
      hunter.faults.push({ hang: true });

      const first = await startServer("server (first life)", settings);
      expect(first.apiKey).toBeNull(); // the database had an account already
      const api = apiClient(first.url, account.apiKey);
      const list = await api.post("/api/lists", { name: "Waterfall crash" });
      expect(list.status).toBe(201);
      const listId = list.body.list.id as string;
      const bulk = await api.post(`/api/lists/${listId}/rows/bulk`, { rows: PEOPLE });
      expect(bulk.status).toBe(200);
      expect([bulk.body.inserted, bulk.body.merged]).toEqual([PEOPLE.length, 0]);
      const rowIds = rowsOf<{ id: string }>(await scratch.db.execute(sql`select id from list_rows where list_id = ${listId} order by position`)).map((r) => r.id);
      expect(rowIds).toHaveLength(PEOPLE.length);

      const created = await api.post(`/api/lists/${listId}/columns`, {
        name: "Work email",
        isDynamic: true,
        enrichmentType: "work_email",
        config: { providers: ["fullenrich", "hunter"] },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ column: { enrichmentType: "work_email", config: { providers: ["fullenrich", "hunter"] } } });
      const columnId = created.body.column.id as string;

      // Inside Hunter's step: every row FullEnrich missed was asked of Hunter, one of them unanswered.
      const describeNow = async () => JSON.stringify({ lookups: hunter.lookups(), cells: await cellsIn(scratch.db, columnId) });
      await waitUntil(async () => hunter.lookups().length >= ASKED_OF_HUNTER.length, 20_000, describeNow, 50);
      // Held there by the unanswered request, not caught by luck between its answers and their
      // write: a moment later the step has still stored nothing (checked below, at the kill).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await killAndConfirm(first);

      // ---- at the kill ----
      const lookupsAtKill = hunter.lookups();
      expect([...lookupsAtKill].sort(byLastName)).toEqual([...ASKED_OF_HUNTER].sort(byLastName));
      expect(hunter.faults).toEqual([]); // the hang was served: nothing hangs after the restart
      expect(fullEnrich.submitted().map((s) => s.contacts.map((c) => c.last_name).sort())).toEqual([SENT_TO_FULLENRICH]);
      const feRequestsAtKill = fullEnrich.apiRequests().length;
      const atKill = await cellsIn(scratch.db, columnId);
      // FullEnrich's step was stored before Hunter was asked: its matches are done and paid, the
      // other rows wait at Hunter with FullEnrich's try kept under their run token.
      expect(
        atKill.map((c, i) => {
          const fe = FE_FOUND.get(i);
          if (fe) return { status: c.status, value: c.value, paid: c.paid, stored: null };
          return { status: c.status, value: c.value, paid: c.paid, stored: c.attempts && { sameToken: c.attempts.runToken === c.token, outcomes: c.attempts.attempts.map((a) => `${a.provider}:${a.outcome}`) } };
        }),
      ).toEqual(
        PEOPLE.map((_, i) => {
          const fe = FE_FOUND.get(i);
          if (fe) return { status: "completed", value: fe, paid: PRICE.fullenrich, stored: null };
          return { status: "processing", value: null, paid: 0, stored: { sameToken: true, outcomes: [i === 7 ? "fullenrich:skipped" : "fullenrich:no_match"] } };
        }),
      );
      expect(atKill.every((c) => c.token !== null && c.recoveries === 0)).toBe(true);

      // ---- a new server on the same database ----
      const second = await startServer("server (after the kill)", settings);
      expect(second.apiKey).toBeNull();
      const after = apiClient(second.url, account.apiKey);
      await waitUntil(async () => (await cellsIn(scratch.db, columnId)).every((c) => !OPEN.has(c.status)), SETTLE_BUDGET_MS, describeNow);
      // Settled for good: the task's last write is in, and no second recovery reopens anything.
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS + INTERVAL_MS));

      // Hunter asked again, after the restart, for exactly the rows it had been asked for; FullEnrich not at all.
      const lookupsAfter = hunter.lookups().slice(lookupsAtKill.length);
      expect([...lookupsAfter].sort(byLastName)).toEqual([...ASKED_OF_HUNTER].sort(byLastName));
      expect(fullEnrich.submitted()).toHaveLength(1);
      expect(fullEnrich.apiRequests("submit")).toHaveLength(1);
      expect(fullEnrich.apiRequests().length).toBe(feRequestsAtKill);

      // The cells as the API shows them.
      const view = await after.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
      expect(view.status).toBe(200);
      const feMatched = [
        { provider: "fullenrich", outcome: "matched", cost: PRICE.fullenrich, durationMs: TIME },
        { provider: "hunter", outcome: "not_run", cost: 0, durationMs: 0 },
      ];
      const feMissed = { provider: "fullenrich", outcome: "no_match", cost: 0, durationMs: TIME, reason: expect.any(String) };
      const name = (p: Record<string, string>) => [p.firstName, p.lastName].filter(Boolean).join(" ");
      const expectedCells = PEOPLE.map((person, i) => {
        const base = { rowId: rowIds[i], name: name(person), status: "completed", error: null };
        if (FE_FOUND.has(i)) return { ...base, value: FE_FOUND.get(i), attempts: feMatched };
        if (HUNTER_FOUND.has(i)) return { ...base, value: HUNTER_FOUND.get(i), attempts: [feMissed, { provider: "hunter", outcome: "matched", cost: PRICE.hunter, durationMs: TIME }] };
        if (i === 6) return { ...base, value: null, attempts: [feMissed, { provider: "hunter", outcome: "no_match", cost: 0, durationMs: TIME, reason: "Hunter found no email for this person" }] };
        return {
          ...base,
          value: null,
          attempts: [
            { provider: "fullenrich", outcome: "skipped", cost: 0, durationMs: 0, reason: expect.stringContaining("Not enough to look this person up") },
            { provider: "hunter", outcome: "skipped", cost: 0, durationMs: 0, reason: expect.stringContaining("Not enough to look this person up at Hunter") },
          ],
        };
      });
      expect(view.body).toEqual({ cells: expectedCells });

      // The cells in the database: same tokens as at the kill, paid each match's price once.
      const final = await cellsIn(scratch.db, columnId);
      expect(final.map((c) => ({ rowId: c.rowId, status: c.status, value: c.value, error: c.error, paid: c.paid, token: c.token }))).toEqual(
        PEOPLE.map((_, i) => ({
          rowId: rowIds[i],
          status: "completed",
          value: FE_FOUND.get(i) ?? HUNTER_FOUND.get(i) ?? null,
          error: null,
          paid: FE_FOUND.has(i) ? PRICE.fullenrich : HUNTER_FOUND.has(i) ? PRICE.hunter : 0,
          token: atKill[i]!.token,
        })),
      );
      // Those open at the kill were recovered; those done before it were left alone.
      expect(final.map((c, i) => (FE_FOUND.has(i) ? c.recoveries === 0 : c.recoveries >= 1))).toEqual(PEOPLE.map(() => true));

      // The money: one charge per matched cell under its token, at its provider's price; nothing for the others.
      const ledger = await ledgerOf(scratch.db, account.workspaceId);
      expect(ledger.filter((e) => e.kind === "grant").map((e) => [e.action, e.units, e.delta])).toEqual([["GRANT", CREDITS, CREDITS]]);
      const charge = (i: number, provider: "fullenrich" | "hunter"): LedgerRow => ({
        kind: "charge",
        action: provider === "fullenrich" ? "EMAIL_LOOKUP" : "HUNTER_EMAIL_LOOKUP",
        units: 1,
        delta: -PRICE[provider],
        referenceType: "column",
        referenceId: columnId,
        dedupeKey: `cell-charge:${final[i]!.token}`,
        note: `Contact found by ${provider}`,
      });
      const byKey = (a: LedgerRow, b: LedgerRow) => (a.dedupeKey ?? "").localeCompare(b.dedupeKey ?? "");
      expect(ledger.filter((e) => e.kind !== "grant").sort(byKey)).toEqual(
        [...[...FE_FOUND.keys()].map((i) => charge(i, "fullenrich")), ...[...HUNTER_FOUND.keys()].map((i) => charge(i, "hunter"))].sort(byKey),
      );
      const spent = FE_FOUND.size * PRICE.fullenrich + HUNTER_FOUND.size * PRICE.hunter;
      const money = await workspaceMoney(scratch.db, account.workspaceId);
      expect(money).toEqual({ balance: CREDITS - spent, held: 0 });
      expect(ledger.reduce((sum, e) => sum + e.delta, 0)).toBe(money.balance);
      expect(final.reduce((sum, c) => sum + c.paid, 0)).toBe(spent);

      const accountView = await after.get("/api/account");
      expect(accountView.status).toBe(200);
      expect(accountView.body.credits).toEqual({ balance: CREDITS - spent });
      expect(second.running()).toBe(true);
    } finally {
      await stopChildren();
      await hunter.close();
      await fullEnrich.close();
      await scratch.drop();
    }
  }, 60_000);
});
