import { failAndExit, oneLine } from "../cli";
import { parseEnv } from "../env";
import { openDatabase } from "./open";

// `npm run db:migrate`: applies drizzle/ to DATABASE_URL, or to the embedded database (which it
// cannot do while a server owns that database: it then says so in one line, as every failure here).
try {
  const env = parseEnv(process.env);
  const database = await openDatabase(env, { max: 1 });
  console.log(`migrations applied to ${database.driver} (${database.where})`);
  await database.close();
} catch (error) {
  failAndExit(oneLine(error));
}
