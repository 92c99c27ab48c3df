import { useState } from 'preact/hooks';
import {
  MIN_PASSPHRASE,
  recover,
  screen,
  signIn,
  signOut,
  signUp,
  unlock,
} from '../lib/session.ts';
import { Card, ErrorBox, Field, KdfProgress, useAction } from './common.tsx';

function go(name: 'signin' | 'signup' | 'recover') {
  return () => screen.set({ name });
}

function checkNewPassphrase(p: string, again: string): void {
  if (p.length < MIN_PASSPHRASE)
    throw new Error(`Use a passphrase of at least ${MIN_PASSPHRASE} characters.`);
  if (p !== again) throw new Error('The two passphrases differ.');
}

export function SignIn({ email: initialEmail, notice }: { email?: string; notice?: string }) {
  const [email, setEmail] = useState(initialEmail ?? '');
  const [passphrase, setPassphrase] = useState('');
  const action = useAction(async () => signIn({ email: email.trim(), passphrase }));
  return (
    <Card title="Sign in">
      {notice && <p class="notice">{notice}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run();
        }}
      >
        <Field
          id="signin-email"
          label="Email"
          type="email"
          value={email}
          onInput={setEmail}
          autoComplete="username"
          required
        />
        <Field
          id="signin-passphrase"
          label="Passphrase"
          type="password"
          value={passphrase}
          onInput={setPassphrase}
          autoComplete="current-password"
          required
        />
        <ErrorBox error={action.error} />
        <KdfProgress />
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <nav class="links" aria-label="Other options">
        <button type="button" class="link" onClick={go('signup')}>
          Create an account
        </button>
        <button type="button" class="link" onClick={go('recover')}>
          Forgot your passphrase?
        </button>
      </nav>
    </Card>
  );
}

/** After a reload: still signed in, but the keys live only in memory and must be reopened. */
export function Unlock({ email }: { email: string }) {
  const [passphrase, setPassphrase] = useState('');
  const action = useAction(async () => unlock(passphrase));
  const out = useAction(signOut);
  return (
    <Card title="Unlock your keys">
      <p class="muted">
        Signed in as <strong>{email}</strong>. Your keys are kept only in this page's memory, so a
        reload needs your passphrase again.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run();
        }}
      >
        <Field
          id="unlock-passphrase"
          label="Passphrase"
          type="password"
          value={passphrase}
          onInput={setPassphrase}
          autoComplete="current-password"
          required
        />
        <ErrorBox error={action.error} />
        <KdfProgress />
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? 'Unlocking…' : 'Unlock'}
        </button>
      </form>
      <nav class="links" aria-label="Other options">
        <button type="button" class="link" onClick={() => void out.run()}>
          Sign out
        </button>
      </nav>
    </Card>
  );
}

export function SignUp() {
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [again, setAgain] = useState('');
  const action = useAction(async () => {
    checkNewPassphrase(passphrase, again);
    await signUp({ email: email.trim(), displayName: displayName.trim(), passphrase });
  });
  return (
    <Card title="Create your account">
      <p class="muted">
        Your passphrase never leaves this browser: it unlocks your keys here, and nobody — not even
        the server — can reset it without your recovery phrase.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run();
        }}
      >
        <Field
          id="signup-email"
          label="Email"
          type="email"
          value={email}
          onInput={setEmail}
          autoComplete="username"
          required
        />
        <Field
          id="signup-name"
          label="Display name"
          value={displayName}
          onInput={setDisplayName}
          autoComplete="name"
        />
        <Field
          id="signup-passphrase"
          label="Passphrase"
          type="password"
          value={passphrase}
          onInput={setPassphrase}
          autoComplete="new-password"
          required
          minLength={MIN_PASSPHRASE}
          hint={`At least ${MIN_PASSPHRASE} characters; a few unrelated words work well.`}
        />
        <Field
          id="signup-passphrase-again"
          label="Passphrase again"
          type="password"
          value={again}
          onInput={setAgain}
          autoComplete="new-password"
          required
        />
        <ErrorBox error={action.error} />
        <KdfProgress />
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? 'Creating…' : 'Create account'}
        </button>
      </form>
      <nav class="links" aria-label="Other options">
        <button type="button" class="link" onClick={go('signin')}>
          I already have an account
        </button>
      </nav>
    </Card>
  );
}

export function Recover() {
  const [email, setEmail] = useState('');
  const [phrase, setPhrase] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [again, setAgain] = useState('');
  const action = useAction(async () => {
    checkNewPassphrase(passphrase, again);
    await recover({ email: email.trim(), phrase, newPassphrase: passphrase });
  });
  return (
    <Card title="Recover your account">
      <p class="muted">
        Enter the 24-word recovery phrase you wrote down when you set up encryption, then choose a
        new passphrase. Your chats and files stay readable.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run();
        }}
      >
        <Field
          id="recover-email"
          label="Email"
          type="email"
          value={email}
          onInput={setEmail}
          autoComplete="username"
          required
        />
        <div class="field">
          <label for="recover-phrase">Recovery phrase (24 words)</label>
          <textarea
            id="recover-phrase"
            name="recover-phrase"
            rows={6}
            value={phrase}
            onInput={(e) => setPhrase((e.target as HTMLTextAreaElement).value)}
            autoComplete="off"
            spellcheck={false}
            required
          />
        </div>
        <Field
          id="recover-passphrase"
          label="New passphrase"
          type="password"
          value={passphrase}
          onInput={setPassphrase}
          autoComplete="new-password"
          required
          minLength={MIN_PASSPHRASE}
        />
        <Field
          id="recover-passphrase-again"
          label="New passphrase again"
          type="password"
          value={again}
          onInput={setAgain}
          autoComplete="new-password"
          required
        />
        <ErrorBox error={action.error} />
        <KdfProgress />
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? 'Recovering…' : 'Recover and set passphrase'}
        </button>
      </form>
      <nav class="links" aria-label="Other options">
        <button type="button" class="link" onClick={go('signin')}>
          Back to sign in
        </button>
      </nav>
    </Card>
  );
}
