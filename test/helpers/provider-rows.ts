import type { CompanyData, PersonData } from "../../src/providers/types";

// Rows as providers receive them, for provider tests; each test overrides what it is about.

export function personRow(input: Partial<PersonData> = {}): PersonData {
  return {
    subject: "person",
    rowId: crypto.randomUUID(),
    fullName: "Ada Lovelace",
    firstName: "Ada",
    lastName: "Lovelace",
    role: "Engineer",
    company: "Analytical Engines",
    domain: "analytical.io",
    linkedinUrl: null,
    location: "London",
    email: null,
    ...input,
  };
}

export function companyRow(input: Partial<CompanyData> = {}): CompanyData {
  return {
    subject: "company",
    rowId: crypto.randomUUID(),
    name: "Acme",
    domain: "acme.com",
    website: null,
    industry: "Software",
    location: "Berlin",
    description: null,
    ...input,
  };
}
