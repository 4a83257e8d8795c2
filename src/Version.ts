import packageJson from "../package.json" with { type: "json" }

/** The package version, from package.json (one place). */
export const version: string = packageJson.version
