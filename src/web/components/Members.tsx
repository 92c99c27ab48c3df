import { useState } from 'preact/hooks';
import type { Chat } from '../../client/index.ts';
import { addMember, type ChatState, displayName, removeMember } from '../lib/chats.ts';
import { client } from '../lib/session.ts';
import { ErrorBox, Field, useAction } from './common.tsx';
import { SafetyNumber } from './SafetyNumber.tsx';

export function Members({ chat, state }: { chat: Chat; state: ChatState }) {
  const me = client.user?.id;
  const myRole = chat.members.find((m) => m.userId === me)?.role;
  const canManage = chat.kind === 'group' && (myRole === 'owner' || myRole === 'admin');
  const [email, setEmail] = useState('');
  const add = useAction(async () => {
    await addMember(chat.id, email.trim());
    setEmail('');
  });
  const remove = useAction(async (userId: string) => removeMember(chat.id, userId));
  return (
    <section class="members" aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      <ul>
        {chat.members.map((m) => {
          const name = displayName(m.userId, state);
          const email = state.profiles[m.userId]?.email;
          return (
            <li key={m.userId} class="member">
              <div class="member-head">
                <span class="member-name">{name}</span>
                {email && name !== email && <span class="muted small">{email}</span>}
                <span class="badge">{m.role}</span>
              </div>
              {m.userId !== me && <SafetyNumber userId={m.userId} name={name} />}
              {canManage && m.userId !== me && (
                <button
                  type="button"
                  class="danger"
                  disabled={remove.busy}
                  onClick={() => void remove.run(m.userId)}
                >
                  Remove {name} (rotates the chat key)
                </button>
              )}
            </li>
          );
        })}
      </ul>
      <ErrorBox error={remove.error} />
      {canManage && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void add.run();
          }}
        >
          <Field
            id={`add-member-${chat.id}`}
            label="Add someone by email"
            type="email"
            value={email}
            onInput={setEmail}
            required
          />
          <ErrorBox error={add.error} />
          <button type="submit" disabled={add.busy}>
            Add member
          </button>
        </form>
      )}
    </section>
  );
}
