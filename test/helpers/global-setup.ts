import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { createPostgresDb } from "../../src/db/client";
import { migrateDatabase } from "../../src/db/migrate";

// Every run owns a database of its own on the Postgres at DATABASE_URL (default: the local one),
// created for the run and dropped after it, so concurrent runs never see each other's data.
const SERVER_URL = process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:5432/test";
const TEST_DATABASE = process.env.TEST_DATABASE_NAME ?? `lead_enrichment_test_${process.pid}`;

export function testDatabaseUrl(): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${TEST_DATABASE}`;
  return url.toString();
}

export default async function setup(project: TestProject) {
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${TEST_DATABASE}" with (force)`);
    await admin.unsafe(`create database "${TEST_DATABASE}"`);
  } finally {
    await admin.end();
  }
  const url = testDatabaseUrl();
  const { db, close } = createPostgresDb(url, { max: 1 });
  await migrateDatabase(db, "postgres");
  await close();
  project.provide("databaseUrl", url);
  return async () => {
    const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`drop database if exists "${TEST_DATABASE}" with (force)`);
    } finally {
      await admin.end();
    }
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
