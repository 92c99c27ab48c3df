import { useState } from 'preact/hooks';
import type { PendingSetup } from '../../client/index.ts';
import { confirmSetup, screen } from '../lib/session.ts';
import { Card, ErrorBox, useAction } from './common.tsx';

/** Step 1: the phrase, shown this once. Step 2 asks for three of its words back. */
export function SetupPhrase({ setup }: { setup: PendingSetup }) {
  const [written, setWritten] = useState(false);
  const words = setup.phrase.split(' ');
  return (
    <Card title="Your recovery phrase">
      <p>
        These 24 words are the only way back into your account if you forget your passphrase. Write
        them down on paper, in order, and keep them somewhere safe.{' '}
        <strong>They are shown only during this setup and never again.</strong>
      </p>
      <ol class="phrase" aria-label="Recovery phrase" data-testid="recovery-phrase">
        {words.map((w, i) => (
          <li key={i}>{w}</li>
        ))}
      </ol>
      <div class="check">
        <input
          id="phrase-written"
          type="checkbox"
          checked={written}
          onChange={(e) => setWritten((e.target as HTMLInputElement).checked)}
        />
        <label for="phrase-written">I have written down all 24 words</label>
      </div>
      <button
        type="button"
        class="primary"
        disabled={!written}
        onClick={() => screen.set({ name: 'setup', setup, step: 'confirm' })}
      >
        Continue
      </button>
    </Card>
  );
}

export function SetupConfirm({ setup }: { setup: PendingSetup }) {
  const [answers, setAnswers] = useState<Record<number, string>>({});
  const action = useAction(async () =>
    confirmSetup(
      setup,
      setup.positions.map((position) => ({ position, word: answers[position] ?? '' })),
    ),
  );
  return (
    <Card title="Confirm your recovery phrase">
      <p>Type these words from your phrase to show it was written down correctly.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run();
        }}
      >
        {setup.positions.map((p) => (
          <div class="field" key={p}>
            <label for={`confirm-word-${p + 1}`}>Word {p + 1}</label>
            <input
              id={`confirm-word-${p + 1}`}
              data-position={p + 1}
              value={answers[p] ?? ''}
              onInput={(e) => setAnswers({ ...answers, [p]: (e.target as HTMLInputElement).value })}
              autoComplete="off"
              autoCapitalize="none"
              spellcheck={false}
              required
            />
          </div>
        ))}
        <ErrorBox error={action.error} />
        <div class="row">
          <button
            type="button"
            onClick={() => screen.set({ name: 'setup', setup, step: 'phrase' })}
          >
            Show the words again
          </button>
          <button type="submit" class="primary" disabled={action.busy}>
            {action.busy ? 'Finishing…' : 'Finish setup'}
          </button>
        </div>
      </form>
    </Card>
  );
}
