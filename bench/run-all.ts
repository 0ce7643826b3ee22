import { spawn } from "node:child_process";

// `npm run bench`: every benchmark in turn, each in its own process (as it would run alone), its
// output passed through, then one table of the figures each reported with summary().

// Column creation at each size of BENCH_COLUMN_SIZES, to show how it grows with the list.
const COLUMN_SIZES = (process.env.BENCH_COLUMN_SIZES ?? "10000,100000,300000").split(",").map((size) => size.trim()).filter(Boolean);
const BENCHES: Array<{ bench: string; env?: Record<string, string> }> = [
  { bench: "cell-path" },
  { bench: "row-page" },
  { bench: "mixed-load" },
  { bench: "embedded" },
  ...COLUMN_SIZES.map((rows) => ({ bench: "column-create", env: { BENCH_ROWS: rows } })),
  { bench: "ai-throughput" },
  { bench: "engine-chain" },
];

const rows: Array<[string, string, string]> = [];
let failed = 0;
for (const { bench, env } of BENCHES) {
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", `bench/${bench}.ts`], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
    let pending = "";
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        const figure = /^SUMMARY\t([^\t]*)\t([^\t]*)\t(.*)$/.exec(line);
        if (figure) rows.push([figure[1]!, figure[2]!, figure[3]!]);
        else console.log(line);
      }
    });
    child.on("close", (exit) => resolve(exit ?? 1));
  });
  if (code !== 0) {
    failed += 1;
    rows.push([bench, "FAILED", `exit ${code}`]);
  }
}

const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length), ["benchmark", "figure", "value"][i]!.length));
const line = (cells: readonly string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
console.log("\nsummary");
console.log(line(["benchmark", "figure", "value"]));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const row of rows) console.log(line(row));
if (failed > 0) process.exitCode = 1;
