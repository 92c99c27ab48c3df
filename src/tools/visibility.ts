import { refusalOf } from '../gateway/access.ts';
import type { AccessLevel, PermissionView } from '../gateway/types.ts';

/** A chat tool is listed when the chat permission row allows its level (and writing, if it writes). */
export function chatToolVisible(level: Exclude<AccessLevel, 'denied'>, write = false) {
  return (permissions: PermissionView[], now: Date): boolean => {
    const row = permissions.find((p) => p.resourceType === 'chat');
    const refused = refusalOf(row, { resourceType: 'chat', level, write }, now);
    // Outside the allowed hours the tool stays listed: calls then say when to come back.
    return !refused || refused.reason === 'outside-hours';
  };
}

/** A file tool is listed when the `files` permission row allows its level. */
export function fileToolVisible(level: Exclude<AccessLevel, 'denied'>) {
  return (permissions: PermissionView[], now: Date): boolean => {
    const row = permissions.find((p) => p.resourceType === 'files');
    const refused = refusalOf(row, { resourceType: 'files', level }, now);
    return !refused || refused.reason === 'outside-hours';
  };
}

/** A memory tool is listed when the memory permission row allows decryption (and writing, if it writes). */
export function memoryToolVisible(write = false) {
  return (permissions: PermissionView[], now: Date): boolean => {
    const row = permissions.find((p) => p.resourceType === 'memory');
    const refused = refusalOf(
      row,
      { resourceType: 'memory', level: 'decrypt_ephemeral', write },
      now,
    );
    return !refused || refused.reason === 'outside-hours';
  };
}
