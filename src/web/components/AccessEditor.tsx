/**
 * One agent's access, per resource: the level, the items it may touch, and the conditions
 * (expiry, max items per call, write, UTC hours); for chats read in clear, "from now on" or
 * "all history". Used by the Agents page and the consent page, so a person sees the same choice
 * in both places. It edits a draft only; the page saves it (lib/agents.ts).
 */
import { useEffect, useRef } from 'preact/hooks';
import type { AccessLevel, GrantScope, GrantView } from '../../gateway/types.ts';
import {
  type AccessDraft,
  canAllItems,
  hasItems,
  KIND_LABEL,
  KINDS,
  type Kind,
  LEVEL_LABEL,
  levelsOf,
  type ResourceDraft,
  WRITE_LABEL,
} from '../lib/access.ts';
import type { Item } from '../lib/agents.ts';

const HOURS = Array.from({ length: 25 }, (_, h) => h);

const ITEM_WORD: Record<Kind, string> = {
  chat: 'chats',
  files: 'files',
  memory: '',
  github: 'repositories',
};

function grantNote(g: GrantView | undefined): string {
  if (!g) return '';
  if (g.resourceType !== 'chat') return 'key granted';
  const from = Math.min(...g.epochs);
  const to = Math.max(...g.epochs);
  return `key granted (${g.scope === 'all_history' ? 'all history' : 'from now on'}, ${from === to ? `epoch ${from}` : `epochs ${from}–${to}`})`;
}

/** What a person who followed a chat's "no grant" link still has to do for that chat. */
function linkedNote(
  agent: string,
  d: ResourceDraft,
  item: Item | undefined,
  grant: GrantView | undefined,
): string {
  if (!item) return 'The chat in this link is not one of your chats (any more).';
  const name = `“${item.name}”`;
  if (grant && d.level === 'decrypt_ephemeral' && d.items.includes(item.id))
    return d.allowWrite
      ? `${agent} holds the key of ${name} and may answer there.`
      : `${agent} holds the key of ${name}; to let it answer there, tick “${WRITE_LABEL.chat}” and save.`;
  const steps = [
    ...(d.level === 'decrypt_ephemeral' ? [] : [`choose “${LEVEL_LABEL.decrypt_ephemeral}”`]),
    ...(d.items.includes(item.id) ? [] : [`tick ${name}`]),
    ...(d.allowWrite ? [] : [`tick “${WRITE_LABEL.chat}”`]),
  ];
  if (steps.length === 0)
    return `${name} is chosen, but ${agent} holds no key for it: save to grant it.`;
  return `To let ${agent} read and answer in ${name}: ${[...steps, 'save'].join(', then ')}.`;
}

function ResourceEditor(props: {
  idPrefix: string;
  agentName: string;
  kind: Kind;
  value: ResourceDraft;
  items: Item[];
  grants: GrantView[];
  /** Chats: the one a link came for, marked, with what is left to do, and focused once. */
  linked?: string;
  onChange: (v: ResourceDraft) => void;
  onRevoke?: (grantId: string) => void;
}) {
  const { kind, value: d, onChange } = props;
  const id = (s: string) => `${props.idPrefix}-${kind}-${s}`;
  const set = (patch: Partial<ResourceDraft>) => onChange({ ...d, ...patch });
  const decrypt = d.level === 'decrypt_ephemeral';
  const all = d.allItems && canAllItems(kind, d.level);
  const toggle = (itemId: string, on: boolean) =>
    set({ items: on ? [...d.items, itemId] : d.items.filter((x) => x !== itemId) });
  const linked = kind === 'chat' ? props.linked : undefined;
  const linkedItem = linked ? props.items.find((it) => it.id === linked) : undefined;
  const box = useRef<HTMLFieldSetElement>(null);
  const focused = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (!linked || focused.current === linked) return;
    focused.current = linked;
    // The chat's own checkbox when it is listed, else the first control that leads to it.
    const el =
      (linkedItem && document.getElementById(id(`item-${linked}`))) ||
      document.getElementById(id('all')) ||
      document.getElementById(id('level'));
    el?.focus({ preventScroll: true });
    (el?.closest('li') ?? box.current)?.scrollIntoView({ block: 'center' });
  }, [linked]);
  return (
    <fieldset class="resource" data-kind={kind} ref={box}>
      <legend>{KIND_LABEL[kind]}</legend>
      {linked && (
        <p class="notice" data-testid="linked-chat" role="status">
          {linkedNote(
            props.agentName,
            d,
            linkedItem,
            props.grants.find((g) => g.resourceId === linked),
          )}
        </p>
      )}
      <div class="field">
        <label for={id('level')}>{`${KIND_LABEL[kind]} access`}</label>
        <select
          id={id('level')}
          value={d.level}
          onChange={(e) => set({ level: (e.target as HTMLSelectElement).value as AccessLevel })}
        >
          {levelsOf(kind).map((l) => (
            <option key={l} value={l}>
              {LEVEL_LABEL[l]}
            </option>
          ))}
        </select>
      </div>
      {d.level !== 'denied' && (
        <>
          {hasItems(kind) && (
            <div class="items">
              {canAllItems(kind, d.level) && (
                <div class="check">
                  <input
                    type="checkbox"
                    id={id('all')}
                    checked={d.allItems}
                    onChange={(e) => set({ allItems: (e.target as HTMLInputElement).checked })}
                  />
                  <label for={id('all')}>All {ITEM_WORD[kind]}, including new ones</label>
                </div>
              )}
              {!all &&
                (props.items.length === 0 ? (
                  <p class="muted small">No {ITEM_WORD[kind]} to choose from yet.</p>
                ) : (
                  <ul class="item-list" aria-label={`Allowed ${ITEM_WORD[kind]}`}>
                    {props.items.map((it) => {
                      const on = d.items.includes(it.id);
                      const g = props.grants.find((x) => x.resourceId === it.id);
                      return (
                        <li
                          key={it.id}
                          class={it.id === linked ? 'linked' : undefined}
                          data-linked={it.id === linked ? 'true' : undefined}
                        >
                          <div class="check">
                            <input
                              type="checkbox"
                              id={id(`item-${it.id}`)}
                              checked={on}
                              onChange={(e) =>
                                toggle(it.id, (e.target as HTMLInputElement).checked)
                              }
                            />
                            <label for={id(`item-${it.id}`)}>{it.name}</label>
                          </div>
                          {kind === 'chat' && decrypt && on && (
                            <select
                              aria-label={`History for ${it.name}`}
                              value={d.scopes[it.id] ?? g?.scope ?? 'from_now_on'}
                              onChange={(e) =>
                                set({
                                  scopes: {
                                    ...d.scopes,
                                    [it.id]: (e.target as HTMLSelectElement).value as GrantScope,
                                  },
                                })
                              }
                            >
                              <option value="from_now_on">From now on</option>
                              <option value="all_history">All history</option>
                            </select>
                          )}
                          {g && <span class="badge">{grantNote(g)}</span>}
                          {g && props.onRevoke && (
                            <button
                              type="button"
                              class="danger small"
                              onClick={() => props.onRevoke?.(g.grantId)}
                            >
                              {`Revoke key for ${it.name}`}
                            </button>
                          )}
                          {!g && on && decrypt && (kind === 'chat' || kind === 'files') && (
                            <span class="badge">no key yet: granted when you save</span>
                          )}
                        </li>
                      );
                    })}
                  </ul>
                ))}
              {decrypt && (kind === 'chat' || kind === 'files') && (
                <p class="hint">
                  Each ticked {kind === 'chat' ? 'chat' : 'file'}'s key is wrapped to the gateway
                  and signed in this browser. Unticking one revokes it
                  {kind === 'chat' ? ' and rotates the chat key' : ''}.
                </p>
              )}
            </div>
          )}
          {kind === 'memory' && props.grants.length > 0 && (
            <p>
              <span class="badge">memory key granted</span>
            </p>
          )}
          <div class="conditions">
            <div class="check">
              <input
                type="checkbox"
                id={id('write')}
                checked={d.allowWrite}
                onChange={(e) => set({ allowWrite: (e.target as HTMLInputElement).checked })}
              />
              <label for={id('write')}>{WRITE_LABEL[kind]}</label>
            </div>
            <div class="cond-grid">
              <div class="field">
                <label for={id('expires')}>Expires (your time)</label>
                <input
                  type="datetime-local"
                  id={id('expires')}
                  value={d.expires}
                  onInput={(e) => set({ expires: (e.target as HTMLInputElement).value })}
                />
              </div>
              {kind !== 'github' && (
                <div class="field">
                  <label for={id('max')}>Max items per call</label>
                  <input
                    type="number"
                    min={1}
                    max={1000}
                    id={id('max')}
                    value={d.maxItems}
                    placeholder="no limit"
                    onInput={(e) => set({ maxItems: (e.target as HTMLInputElement).value })}
                  />
                </div>
              )}
            </div>
            <div class="check">
              <input
                type="checkbox"
                id={id('hours')}
                checked={d.hoursOn}
                onChange={(e) => set({ hoursOn: (e.target as HTMLInputElement).checked })}
              />
              <label for={id('hours')}>Only between certain hours (UTC)</label>
            </div>
            {d.hoursOn && (
              <div class="cond-grid">
                <div class="field">
                  <label for={id('from')}>From (UTC hour)</label>
                  <select
                    id={id('from')}
                    value={String(d.hoursStart)}
                    onChange={(e) =>
                      set({ hoursStart: Number((e.target as HTMLSelectElement).value) })
                    }
                  >
                    {HOURS.slice(0, 24).map((h) => (
                      <option
                        key={h}
                        value={String(h)}
                      >{`${String(h).padStart(2, '0')}:00`}</option>
                    ))}
                  </select>
                </div>
                <div class="field">
                  <label for={id('to')}>Until (UTC hour)</label>
                  <select
                    id={id('to')}
                    value={String(d.hoursEnd)}
                    onChange={(e) =>
                      set({ hoursEnd: Number((e.target as HTMLSelectElement).value) })
                    }
                  >
                    {HOURS.slice(1).map((h) => (
                      <option
                        key={h}
                        value={String(h)}
                      >{`${String(h).padStart(2, '0')}:00`}</option>
                    ))}
                  </select>
                </div>
              </div>
            )}
          </div>
        </>
      )}
    </fieldset>
  );
}

export function AccessEditor(props: {
  /** Keeps element ids unique when two editors could share a page. */
  idPrefix: string;
  agentName: string;
  draft: AccessDraft;
  items: { chat: Item[]; files: Item[]; github: Item[] };
  grants: GrantView[];
  /** The chat a link to the Agents page came for (`#/agents?chat=…`). */
  linkedChat?: string;
  onChange: (d: AccessDraft) => void;
  /** Revokes one grant at once (the Agents page; a chat's rotates its key). */
  onRevoke?: (grantId: string) => void;
}) {
  const mine = props.grants.filter((g) => g.agentName === props.agentName);
  return (
    <div class="access-editor">
      {KINDS.map((kind) => (
        <ResourceEditor
          key={kind}
          idPrefix={props.idPrefix}
          agentName={props.agentName}
          kind={kind}
          value={props.draft[kind]}
          items={kind === 'memory' ? [] : props.items[kind]}
          grants={mine.filter((g) =>
            kind === 'chat'
              ? g.resourceType === 'chat'
              : kind === 'files'
                ? g.resourceType === 'files'
                : kind === 'memory' && g.resourceType === 'memory',
          )}
          linked={kind === 'chat' ? props.linkedChat : undefined}
          onChange={(v) => props.onChange({ ...props.draft, [kind]: v })}
          onRevoke={props.onRevoke}
        />
      ))}
    </div>
  );
}
