import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    // Each test file gets its own PostgreSQL schema and temporary repositories, so files run in parallel.
    fileParallelism: true,
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
