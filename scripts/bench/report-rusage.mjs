// Preloaded into a child of `npm run bench:sync` (NODE_OPTIONS=--import): when the process exits, writes its own
// resource usage (peak RSS, CPU time; not its children's, such as jj) as JSON to BENCH_RUSAGE_FILE.
import fs from "node:fs"

const file = process.env.BENCH_RUSAGE_FILE
if (file) process.on("exit", () => fs.writeFileSync(file, JSON.stringify(process.resourceUsage())))
