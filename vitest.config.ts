import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` needs nothing running; `integration` talks to the real PostgreSQL and
 * Redis (its global setup migrates a template database once per run).
 * Only the unit tests: `npx vitest run --project unit`.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more workers only make the integration files contend.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['tests/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/helpers/global-setup.ts'],
        },
      },
      // Operations suites (npm run test:ops / test:security / test:faults): real nginx, child
      // processes, private redis-server/PostgreSQL. One file at a time: they own ports and cores.
      ...['ops', 'security', 'faults'].map((name) => ({
        extends: true as const,
        test: {
          name,
          include: [`tests/${name}/**/*.test.ts`],
          globalSetup: ['tests/helpers/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      })),
    ],
  },
});
