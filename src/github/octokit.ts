import { Octokit } from 'octokit';
import type { Config } from '../config.ts';

/**
 * An octokit for one token against `GITHUB_API_URL`. The retry plugin retries 5xx and network
 * failures (not 4xx) `retries` times, (n+1)² × `retryBaseMs` apart; each request has a timeout.
 * Throttling is off: deploys make a handful of calls, and its queue would hide our own timeouts.
 */
export function githubClient(config: Config['github'], token: string | undefined): Octokit {
  return new Octokit({
    auth: token,
    baseUrl: config.apiUrl,
    userAgent: 'vutler',
    retry: { retries: config.retries, retryAfterBaseValue: config.retryBaseMs },
    throttle: { enabled: false },
    // octokit's fetch-based request has no timeout of its own: every attempt gets one here.
    request: {
      fetch: (url: string | URL, init?: RequestInit) =>
        fetch(url, { ...init, signal: AbortSignal.timeout(config.timeoutMs) }),
    },
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
}

export type GithubClientFactory = (token: string) => Octokit;
