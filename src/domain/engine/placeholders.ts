import type { Subject } from "../column-kinds";

// The `{{…}}` placeholders of a prompt, read the same way where a column is defined (to resolve its
// references) and where its prompt is rendered for the model.

export const PLACEHOLDER = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** The names a prompt's placeholders use, as written (trimmed), each once. */
export function placeholdersOf(prompt: string | null): string[] {
  if (!prompt) return [];
  return [...new Set([...prompt.matchAll(PLACEHOLDER)].map((match) => match[1]!.trim()))];
}

/** How a placeholder names a row field: any case, any separators (`first_name`, `First Name`, `firstName`). */
export const fieldKey = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, "");

/** How a placeholder or a condition names another column: its name, trimmed, in any case. */
export const columnKey = (name: string) => name.trim().toLowerCase();

/**
 * The row fields a placeholder may name, by subject: the placeholder's field key → the field it
 * reads, as the filter language names fields (so a change to that field is recognised whether a
 * prompt or a condition reads it).
 */
export const PLACEHOLDER_FIELDS: Readonly<Record<Subject, Readonly<Record<string, string>>>> = {
  person: {
    name: "name",
    fullname: "name",
    firstname: "firstName",
    lastname: "lastName",
    company: "company",
    companyname: "company",
    domain: "domain",
    role: "title",
    title: "title",
    jobtitle: "title",
    linkedin: "linkedinUrl",
    linkedinurl: "linkedinUrl",
    location: "location",
    email: "email",
  },
  company: {
    name: "name",
    company: "name",
    companyname: "name",
    domain: "domain",
    website: "website",
    industry: "industry",
    location: "location",
    description: "description",
  },
};

/** The field a built-in person column mirrors, as the filter language names it (null: no field a caller can change). */
export const BUILT_IN_FIELDS: Readonly<Record<string, string | null>> = {
  name: "name",
  role: "title",
  headline: "title",
  company: "company",
  location: "location",
  domain: "domain",
  linkedin: "linkedinUrl",
  seniority: null,
  departments: null,
  functions: null,
  experience: null,
};

/** A referenced column's value as a prompt reads it: text as it is, lists joined, nothing as null. */
export function referenceText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value.trim() || null;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) {
    const items = value.map((item) => (typeof item === "string" ? item : JSON.stringify(item))).filter((item) => item.trim() !== "");
    return items.length > 0 ? items.join(", ") : null;
  }
  const json = JSON.stringify(value);
  return json === "{}" ? null : json;
}
