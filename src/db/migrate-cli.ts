import { parseEnv } from "../env";
import { openDatabase } from "./open";

// `npm run db:migrate`: applies drizzle/ to DATABASE_URL, or to the embedded database.
const env = parseEnv(process.env);
const database = await openDatabase(env, { max: 1 });
console.log(`migrations applied to ${database.driver} (${database.where})`);
await database.close();
