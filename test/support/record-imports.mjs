// Module hooks for `node --import`: records every module URL the process resolves, one per line, in the file named by
// RECORD_IMPORTS_TO, so a test can see what importing a module really loads.
import { appendFileSync } from "node:fs"
import { register } from "node:module"

if (process.env.RECORD_IMPORTS_TO !== undefined && !import.meta.url.includes("?hooks")) {
  register(`${import.meta.url}?hooks`, import.meta.url)
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context)
  appendFileSync(process.env.RECORD_IMPORTS_TO, `${resolved.url}\n`)
  return resolved
}
