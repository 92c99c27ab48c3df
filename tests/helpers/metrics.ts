/** `GET /metrics` with a bearer token. */
export function scrape(url: string, token: string) {
  return fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
}

/**
 * The value of the first sample of `name` whose labels include `labels` in a Prometheus text
 * exposition; NaN when there is none.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ok = Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`));
    if (ok) return Number(m[3]);
  }
  return Number.NaN;
}
