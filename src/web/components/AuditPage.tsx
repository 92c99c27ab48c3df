/**
 * The Audit page: the person's own decryption log, filterable (agent, resource, outcome, time)
 * on the server, named with what only this device can decrypt, the hash chain verified here
 * with the pinned gateway key, and the export (the signed NDJSON as served, or a CSV of the rows).
 */
import { useEffect, useState } from 'preact/hooks';
import type { AuditEntryView } from '../../client/index.ts';
import {
  type AuditFilters,
  auditCsv,
  auditPage,
  type ChainCheck,
  checkChain,
  nameOf,
  type ResourceName,
  resourceNames,
} from '../lib/audit.ts';
import { chatState } from '../lib/chats.ts';
import { saveBlob } from '../lib/drive.ts';
import { useStore } from '../lib/store.ts';
import { ErrorBox, useAction } from './common.tsx';

const BREAKS: Record<string, string> = {
  'row-edited': 'a row was changed after it was written',
  'broken-link': 'a row does not link to the one before it',
  'missing-row': 'a row is missing',
  'checkpoint-mismatch': 'a signed checkpoint does not match the rows',
  'bad-signature': 'a checkpoint is not signed by the pinned gateway key',
};

function when(iso: string): string {
  return new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' });
}

function ChainSummary(props: {
  check?: ChainCheck;
  error: unknown;
  busy: boolean;
  onCheck: () => void;
}) {
  const v = props.check?.verdict;
  const pending = v ? v.rows - v.linked : 0;
  return (
    <div
      class={`chain-summary ${v ? (v.ok ? 'chain-ok' : 'chain-broken') : ''}`}
      role="status"
      data-chain={v ? (v.ok ? 'verified' : 'broken') : 'unknown'}
    >
      {props.busy && !v && <p>Checking the hash chain on this device…</p>}
      {v?.ok && (
        <p>
          <strong>✓ Hash chain verified on this device</strong> with the pinned gateway key:{' '}
          {v.rows} {v.rows === 1 ? 'row' : 'rows'}
          {v.sealedThrough !== null
            ? `, sealed by a signed checkpoint through row ${v.sealedThrough + 1}`
            : ', none sealed yet'}
          {pending > 0
            ? `; ${pending} recent ${pending === 1 ? 'row is' : 'rows are'} waiting to be sealed`
            : ''}
          .
        </p>
      )}
      {v && !v.ok && (
        <p>
          <strong>⚠ The hash chain does not verify.</strong>{' '}
          {v.firstBreak
            ? `At row ${v.firstBreak.chainIndex + 1}, ${BREAKS[v.firstBreak.reason] ?? v.firstBreak.reason}.`
            : ''}{' '}
          Rows from there on may have been altered or removed by the server.
        </p>
      )}
      <ErrorBox error={props.error} />
      <button type="button" onClick={props.onCheck} disabled={props.busy}>
        {props.busy ? 'Checking…' : 'Check again'}
      </button>
    </div>
  );
}

function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function AuditPage() {
  const chats = useStore(chatState);
  const [names, setNames] = useState<Map<string, ResourceName>>(new Map());
  const [filters, setFilters] = useState<AuditFilters>({});
  const [fromLocal, setFromLocal] = useState('');
  const [toLocal, setToLocal] = useState('');
  const [entries, setEntries] = useState<AuditEntryView[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [agentsSeen, setAgentsSeen] = useState<string[]>([]);
  const [check, setCheck] = useState<ChainCheck | undefined>();

  const [loadError, setLoadError] = useState<unknown>();
  const more = useAction(async () => {
    if (!next) return;
    const page = await auditPage(filters, next);
    setEntries((e) => [...e, ...page.entries]);
    setNext(page.nextCursor);
  });
  const verify = useAction(async () => setCheck(await checkChain()));

  useEffect(() => {
    void resourceNames().then(setNames);
    void verify.run();
  }, []);
  // Not useAction: a filter changed while a page is loading must still load (the last one wins).
  useEffect(() => {
    let live = true;
    setLoadError(undefined);
    auditPage(filters)
      .then((page) => {
        if (!live) return;
        setEntries(page.entries);
        setNext(page.nextCursor);
        setLoaded(true);
        setAgentsSeen((seen) => [...new Set([...seen, ...page.entries.map((e) => e.agentName)])]);
      })
      .catch((err: unknown) => {
        if (live) setLoadError(err);
      });
    return () => {
      live = false;
    };
  }, [filters]);

  const set = (patch: Partial<AuditFilters>) => setFilters((f) => ({ ...f, ...patch }));
  const agents = [...new Set([...chats.agents, ...agentsSeen])].sort();
  const resources = [...names.values()].sort((a, b) => a.name.localeCompare(b.name));
  const filtered = Object.values(filters).some((v) => v !== undefined);

  return (
    <section class="page audit-page" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <p class="muted">
        Every time an agent asked for something of yours — allowed or refused — the gateway wrote a
        row here before anything left it. Names are decrypted on this device; the server sees only
        ids.
      </p>
      <ChainSummary
        check={check}
        error={verify.error}
        busy={verify.busy}
        onCheck={() => void verify.run()}
      />
      <form class="audit-filters" aria-label="Filter the log" onSubmit={(e) => e.preventDefault()}>
        <div class="filter">
          <label for="audit-agent">Agent</label>
          <select
            id="audit-agent"
            value={filters.agentName ?? ''}
            onChange={(e) => set({ agentName: (e.target as HTMLSelectElement).value || undefined })}
          >
            <option value="">All agents</option>
            {agents.map((a) => (
              <option key={a} value={a}>
                @{a}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for="audit-resource">Resource</label>
          <select
            id="audit-resource"
            value={filters.resourceId ?? ''}
            onChange={(e) =>
              set({ resourceId: (e.target as HTMLSelectElement).value || undefined })
            }
          >
            <option value="">All resources</option>
            {resources.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for="audit-outcome">Outcome</label>
          <select
            id="audit-outcome"
            value={filters.outcome ?? ''}
            onChange={(e) =>
              set({
                outcome: ((e.target as HTMLSelectElement).value ||
                  undefined) as AuditFilters['outcome'],
              })
            }
          >
            <option value="">Any outcome</option>
            <option value="allowed">Allowed</option>
            <option value="denied">Denied</option>
            <option value="error">Error</option>
          </select>
        </div>
        <div class="filter">
          <label for="audit-from">From</label>
          <input
            id="audit-from"
            type="datetime-local"
            value={fromLocal}
            onChange={(e) => {
              const v = (e.target as HTMLInputElement).value;
              setFromLocal(v);
              set({ from: toIso(v) });
            }}
          />
        </div>
        <div class="filter">
          <label for="audit-to">To</label>
          <input
            id="audit-to"
            type="datetime-local"
            value={toLocal}
            onChange={(e) => {
              const v = (e.target as HTMLInputElement).value;
              setToLocal(v);
              set({ to: toIso(v) });
            }}
          />
        </div>
        {filtered && (
          <button
            type="button"
            class="link"
            onClick={() => {
              setFromLocal('');
              setToLocal('');
              setFilters({});
            }}
          >
            Clear filters
          </button>
        )}
      </form>
      <div class="audit-export">
        <button
          type="button"
          disabled={!check}
          onClick={() =>
            check &&
            saveBlob(new Blob([check.raw], { type: 'application/x-ndjson' }), 'vutler-audit.ndjson')
          }
        >
          Download signed export (JSON lines)
        </button>
        <button
          type="button"
          disabled={entries.length === 0}
          onClick={() =>
            saveBlob(
              new Blob([auditCsv(entries, names, check?.verdict)], { type: 'text/csv' }),
              'vutler-audit.csv',
            )
          }
        >
          Download these rows (CSV)
        </button>
      </div>
      <ErrorBox error={loadError} />
      {loaded && entries.length === 0 && (
        <p class="muted empty">
          {filtered
            ? 'No access matches these filters.'
            : 'No agent has asked for anything of yours yet.'}
        </p>
      )}
      {entries.length > 0 && (
        <div class="table-wrap">
          <table class="audit-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Agent</th>
                <th scope="col">Tool</th>
                <th scope="col">Resource</th>
                <th scope="col">Outcome</th>
                <th scope="col">Chain</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => {
                const local = check?.verdict.states.get(e.id);
                const state = local ?? e.chain ?? 'pending';
                return (
                  <tr key={e.id} data-outcome={e.outcome ?? ''} data-chain={state}>
                    <td>
                      <time dateTime={e.at}>{when(e.at)}</time>
                    </td>
                    <td>@{e.agentName}</td>
                    <td>
                      <code>{e.toolName ?? '—'}</code>
                    </td>
                    <td>{nameOf(e, names)}</td>
                    <td>
                      <span class={`outcome outcome-${e.outcome ?? 'unknown'}`}>
                        {e.outcome === 'allowed'
                          ? e.decryptionSuccess
                            ? `Allowed · decrypted ${e.itemCount}`
                            : 'Allowed'
                          : e.outcome === 'denied'
                            ? 'Denied'
                            : e.outcome === 'error'
                              ? 'Error'
                              : '—'}
                      </span>
                      {e.reason && (
                        <span class="small muted"> — {e.reason.replace(/-/g, ' ')}</span>
                      )}
                    </td>
                    <td>
                      <span class={`chain chain-${state}`}>
                        {state === 'sealed'
                          ? '✓ sealed'
                          : state === 'broken'
                            ? '⚠ broken'
                            : 'pending'}
                      </span>
                      {!local && <span class="small muted"> (server)</span>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button type="button" disabled={more.busy} onClick={() => void more.run()}>
          {more.busy ? 'Loading…' : 'Load older rows'}
        </button>
      )}
      <ErrorBox error={more.error} />
    </section>
  );
}
