import type { ContactField } from "./bulk";
import { createFullEnrichProvider } from "./fullenrich";
import { createHunterProvider } from "./hunter";
import { createSandboxProviders } from "./sandbox";
import type { CellProvider } from "./types";

// The contact providers a waterfall (`config.providers` of a work_email or mobile_phone column or
// run) may name, as data: which fields each looks up, the credit action its match is priced by
// (CREDIT_COSTS overrides any of them), and what configures it. The waterfall runner knows them only
// through this table and the CellProvider each is built as; a new provider is an adapter in this
// folder and one entry here.

export const CONTACT_SOURCE_IDS = ["fullenrich", "hunter", "sandbox"] as const;
export type ContactSourceId = (typeof CONTACT_SOURCE_IDS)[number];

export type ContactSourceSpec = {
  /** The credit action a match is charged at, per field the provider looks up. */
  actions: Partial<Record<ContactField, string>>;
  /** What configures it, as PROVIDER_SETTINGS says it. */
  settings: readonly string[];
};

export const CONTACT_SOURCES: Readonly<Record<ContactSourceId, ContactSourceSpec>> = {
  fullenrich: { actions: { work_email: "EMAIL_LOOKUP", mobile_phone: "PHONE_LOOKUP" }, settings: ["FULLENRICH_API_KEY"] },
  hunter: { actions: { work_email: "HUNTER_EMAIL_LOOKUP" }, settings: ["HUNTER_API_KEY"] },
  sandbox: { actions: { work_email: "EMAIL_LOOKUP", mobile_phone: "PHONE_LOOKUP" }, settings: ["PROVIDERS=sandbox"] },
};

/** The configured adapter of each provider for each field it looks up; absent when not configured. */
export type ContactSources = Readonly<Partial<Record<ContactSourceId, Partial<Record<ContactField, CellProvider>>>>>;

/** The contact sources the environment configures: FullEnrich and Hunter by their keys, the sandbox under PROVIDERS=sandbox. */
export function createContactSources(env: Readonly<Record<string, unknown>>, options: { sandbox: boolean; sandboxDelayMs?: number }): ContactSources {
  const fullEnrich = createFullEnrichProvider(env);
  const hunter = createHunterProvider(env);
  const sandbox = options.sandbox ? createSandboxProviders({ delayMs: options.sandboxDelayMs ?? 0 }) : null;
  return {
    ...(fullEnrich ? { fullenrich: { work_email: fullEnrich, mobile_phone: fullEnrich } } : {}),
    ...(hunter ? { hunter: { work_email: hunter } } : {}),
    ...(sandbox ? { sandbox: { work_email: sandbox.work_email, mobile_phone: sandbox.mobile_phone } } : {}),
  };
}

export const supportsField = (id: ContactSourceId, field: ContactField) => CONTACT_SOURCES[id].actions[field] !== undefined;
