// Fails when modules under src import each other in a cycle (type-only imports excepted, as they vanish at run time).
// Usage: node scripts/circular.mjs [directory]   (default: the project's src)
import madge from "madge"
import path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const directory = path.resolve(process.argv[2] ?? path.join(root, "src"))
const shown = path.relative(root, directory).startsWith("..") ? directory : path.relative(root, directory)

const result = await madge(directory, {
  fileExtensions: ["ts"],
  tsConfig: path.join(root, "tsconfig.json"),
  detectiveOptions: { ts: { skipTypeImports: true } }
})

// A relative import madge could not resolve would drop an edge and could hide a cycle.
const unresolved = result.warnings().skipped.filter((specifier) => specifier.startsWith("."))
if (unresolved.length > 0) {
  console.error(`Unresolved relative imports under ${shown}:`)
  for (const specifier of unresolved) console.error(`  ${specifier}`)
  process.exit(1)
}

const modules = Object.keys(result.obj()).length
const cycles = result.circular()
if (cycles.length > 0) {
  console.error(`Circular imports found under ${shown} (${cycles.length}):`)
  for (const cycle of cycles) console.error(`  ${[...cycle, cycle[0]].join(" -> ")}`)
  process.exit(1)
}
if (modules === 0) {
  console.error(`No modules found under ${shown}`)
  process.exit(1)
}
console.log(`No circular imports among ${modules} modules under ${shown}`)
