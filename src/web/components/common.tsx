import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError, type ShownError } from '../lib/errors.ts';
import { kdfProgress } from '../lib/kdf.ts';
import { useStore } from '../lib/store.ts';

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e: ShownError = describeError(error);
  return (
    <div class="error" role="alert">
      <p>{e.message}</p>
      {e.details.length > 0 && (
        <ul>
          {e.details.map((d) => (
            <li key={d}>{d}</li>
          ))}
        </ul>
      )}
      {e.requestId && <p class="muted small">Request id: {e.requestId}</p>}
    </div>
  );
}

/** Shown while Argon2id runs in the worker; the page stays usable meanwhile. */
export function KdfProgress() {
  const { running, since } = useStore(kdfProgress);
  const [, tick] = useState(0);
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => tick((n) => n + 1), 250);
    return () => clearInterval(t);
  }, [running]);
  if (!running) return null;
  const secs = ((Date.now() - since) / 1000).toFixed(1);
  return (
    <div class="kdf-progress" role="status" aria-live="polite">
      <label for="kdf-bar">Deriving your keys from the passphrase… {secs} s</label>
      <progress id="kdf-bar" />
    </div>
  );
}

/** Runs an async action for a form: busy flag, error, and no double submit. */
export function useAction<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = async (...args: A) => {
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await fn(...args);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

export function Field(props: {
  id: string;
  label: string;
  type?: 'text' | 'email' | 'password';
  value: string;
  onInput: (v: string) => void;
  autoComplete?: string;
  required?: boolean;
  minLength?: number;
  hint?: string;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id}
        // Preact's input types are a union per `type`; these three share every attribute used here.
        type={(props.type ?? 'text') as 'text'}
        value={props.value}
        onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
        autoComplete={props.autoComplete}
        required={props.required}
        minLength={props.minLength}
        aria-describedby={props.hint ? `${props.id}-hint` : undefined}
      />
      {props.hint && (
        <p id={`${props.id}-hint`} class="hint">
          {props.hint}
        </p>
      )}
    </div>
  );
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  // A new screen moves focus to its title, so keyboard and screen-reader users start there.
  useEffect(() => heading.current?.focus(), [title]);
  return (
    <main class="auth">
      <section class="card" aria-labelledby="card-title">
        <p class="brand">Vutler</p>
        <h1 id="card-title" ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {children}
      </section>
    </main>
  );
}
