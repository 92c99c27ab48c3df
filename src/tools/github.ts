import { refusalOf } from '../gateway/access.ts';
import { ToolRefusal } from '../gateway/refusal.ts';
import type { PermissionView } from '../gateway/types.ts';
import type { GithubToolsService } from '../github/tools.service.ts';
import type { ToolContext } from './tool.ts';

/** A GitHub tool is listed when the `github` permission row allows it (and writing, if it writes). */
export function githubToolVisible(write = false) {
  return (permissions: PermissionView[], now: Date): boolean => {
    const row = permissions.find((p) => p.resourceType === 'github');
    const refused = refusalOf(row, { resourceType: 'github', level: 'metadata', write }, now);
    return !refused || refused.reason === 'outside-hours';
  };
}

export function githubOf(ctx: ToolContext): GithubToolsService {
  if (!ctx.github)
    throw new ToolRefusal('GitHub is not available here.', 'Use the HTTP gateway.', 'unavailable');
  return ctx.github;
}
