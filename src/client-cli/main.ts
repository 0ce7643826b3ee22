import { CommanderError } from "commander";
import { openApiDocument, OPERATIONS } from "../routes";
import { ApiError, CliError } from "./api";
import { buildProgram, printJson, type ApiDocument, type CliIo } from "./commands";

/** Runs one command line; resolves to its exit code (0 done, 1 the API or the work failed, 2 usage). */
export async function runCli(argv: readonly string[], io: Omit<CliIo, "exitCode">): Promise<number> {
  const state: CliIo = { ...io, exitCode: 0 };
  const program = buildProgram(openApiDocument() as ApiDocument, OPERATIONS.map((operation) => operation.spec), state);
  try {
    await program.parseAsync(argv, { from: "user" });
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has written its message (or the help) already.
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" ? 0 : 2;
    }
    if (error instanceof ApiError) {
      // The envelope on stdout too, so `| jq` sees the failure's details.
      printJson(state, error.body);
      state.stderr.write(`${error.message}\n`);
      return 1;
    }
    if (error instanceof CliError) {
      state.stderr.write(`${error.message}\n`);
      return error.exitCode;
    }
    state.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
