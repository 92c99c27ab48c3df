import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { agentsLink, mentionAt, mentionsIn } from '../lib/pure.ts';
import { ErrorBox } from './common.tsx';

/**
 * Enter sends, Shift+Enter starts a new line. Typing `@` offers the known agents (a combobox:
 * arrows move, Enter or Tab picks, Escape closes). "Hide from agents" signs `{ agents: 'deny' }`
 * into the message; mentioning an agent this person has not granted the chat says so before sending.
 */
export function Composer(props: {
  chatId: string;
  agents: string[];
  /** Agents this person granted this chat (undefined: not known yet, so no hint). */
  grantedAgents?: Set<string>;
  disabled?: string;
  onSend: (text: string, opts: { hidden: boolean }) => Promise<void>;
  onTyping: () => void;
}) {
  const [text, setText] = useState('');
  const [hidden, setHidden] = useState(false);
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const pendingCaret = useRef<number | null>(null);
  const lastTyping = useRef(0);
  const [error, setError] = useState<unknown>();
  const queue = useRef(Promise.resolve());
  // Sends are queued, not refused while one is in flight: typing fast never drops a message,
  // and they leave in the order written. A failed one comes back into an empty box.
  const send = () => {
    const body = text.trim();
    if (!body) return;
    const opts = { hidden };
    setText('');
    setCaret(0);
    setHidden(false);
    setError(undefined);
    queue.current = queue.current.then(() =>
      props.onSend(body, opts).catch((err: unknown) => {
        setError(err);
        setText((t) => t || body);
      }),
    );
  };

  const mention = dismissed ? undefined : mentionAt(text, caret);
  const options = mention ? props.agents.filter((a) => a.startsWith(mention.query)) : [];
  const listOpen = options.length > 0;
  const listId = `agents-${props.chatId}`;
  const granted = props.grantedAgents;
  const ungranted = granted ? mentionsIn(text, props.agents).filter((a) => !granted.has(a)) : [];

  const pick = (name: string) => {
    if (!mention) return;
    const next = `${text.slice(0, mention.start)}@${name} ${text.slice(caret)}`;
    const pos = mention.start + name.length + 2;
    setText(next);
    setCaret(pos);
    pendingCaret.current = pos;
  };
  // Placed right after the DOM has the new text, before any further keystroke is handled (a
  // later requestAnimationFrame could land between keystrokes and move the caret back).
  useLayoutEffect(() => {
    if (pendingCaret.current === null) return;
    area.current?.setSelectionRange(pendingCaret.current, pendingCaret.current);
    pendingCaret.current = null;
  });

  const onKeyDown = (e: KeyboardEvent) => {
    if (listOpen) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const d = e.key === 'ArrowDown' ? 1 : -1;
        setActive((a) => (a + d + options.length) % options.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        pick(options[Math.min(active, options.length - 1)]!);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setDismissed(true);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <ErrorBox error={error} />
      {ungranted.map((a) => (
        <p key={a} class="hint" role="status">
          @{a} has no grant for this chat, so it cannot read or answer here.{' '}
          <a href={agentsLink(props.chatId, a)}>Grant it on the Agents page</a>
        </p>
      ))}
      {hidden && mentionsIn(text, props.agents).length > 0 && (
        <p class="hint" role="status">
          This message is hidden from agents: a mentioned agent cannot read it and will not answer.
        </p>
      )}
      {props.disabled && (
        <p class="warning" role="alert">
          {props.disabled}
        </p>
      )}
      <div class="composer-row">
        <label for={`composer-${props.chatId}`} class="visually-hidden">
          Message
        </label>
        <span id={`composer-help-${props.chatId}`} class="visually-hidden">
          Enter sends, Shift+Enter starts a new line, @ offers agents.
        </span>
        <textarea
          id={`composer-${props.chatId}`}
          ref={area}
          rows={2}
          placeholder="Message · @ for agents"
          value={text}
          disabled={!!props.disabled}
          aria-autocomplete="list"
          aria-describedby={`composer-help-${props.chatId}`}
          aria-controls={listId}
          aria-activedescendant={
            listOpen ? `${listId}-${Math.min(active, options.length - 1)}` : undefined
          }
          onInput={(e) => {
            const t = e.target as HTMLTextAreaElement;
            setText(t.value);
            setCaret(t.selectionStart);
            setDismissed(false);
            setActive(0);
            if (Date.now() - lastTyping.current > 2000) {
              lastTyping.current = Date.now();
              props.onTyping();
            }
          }}
          onKeyUp={(e) => setCaret((e.target as HTMLTextAreaElement).selectionStart)}
          onClick={(e) => setCaret((e.target as HTMLTextAreaElement).selectionStart)}
          onKeyDown={onKeyDown}
        />
        <button type="submit" class="primary" disabled={!!props.disabled}>
          Send
        </button>
      </div>
      <label class="hide-agents small">
        <input
          type="checkbox"
          checked={hidden}
          disabled={!!props.disabled}
          onChange={(e) => setHidden((e.target as HTMLInputElement).checked)}
        />{' '}
        Hide from agents
        <span class="muted"> (no agent may read this message, even with a grant)</span>
      </label>
      <div id={listId} role="listbox" aria-label="Agents" class="mentions" hidden={!listOpen}>
        {options.map((name, i) => (
          <div
            key={name}
            id={`${listId}-${i}`}
            role="option"
            tabIndex={-1}
            aria-selected={i === Math.min(active, options.length - 1)}
            onMouseDown={(e) => {
              e.preventDefault();
              pick(name);
            }}
          >
            @{name}
          </div>
        ))}
      </div>
    </form>
  );
}
