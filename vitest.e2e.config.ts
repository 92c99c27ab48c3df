import { defineConfig } from 'vitest/config';

/**
 * The web app in a real browser (Debian's Chromium through playwright-core): `npm run test:e2e`.
 * Kept out of `vitest run` so the unit and integration suites need no browser.
 */
export default defineConfig({
  test: {
    name: 'e2e',
    include: ['tests/e2e/**/*.test.ts'],
    globalSetup: ['tests/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
