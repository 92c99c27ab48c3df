import type { AuditInsert } from '../audit/audit.repository.ts';
import type { AuditService } from '../audit/audit.service.ts';
import { NotFoundError } from '../errors.ts';
import { type AgentCaller, NO_ACCESS, refusalOf } from '../gateway/access.ts';
import type { CallMeta } from '../gateway/chat-tools.service.ts';
import { ToolRefusal } from '../gateway/refusal.ts';
import type { PermissionView } from '../gateway/types.ts';
import type { GithubModule } from './github.module.ts';
import type { DeploymentView, RepoView } from './views.ts';

/**
 * The GitHub MCP tools' rules: the owner's `github` permission row (level, expiry, hours,
 * `resource_ids` over connected repository ids, `allow_write` for deploys), an audit row per
 * repository touched, then the connector's service acting as the owner.
 */
export class GithubToolsService {
  constructor(
    private readonly github: GithubModule,
    private readonly audit: AuditService,
  ) {}

  private row(
    caller: AgentCaller,
    meta: CallMeta,
    repoId: string,
    outcome: AuditInsert['outcome'],
    reason: string | null,
    items = 0,
  ): AuditInsert {
    return {
      userId: caller.userId,
      agentName: caller.agentName,
      resourceId: repoId,
      resourceType: 'github',
      decryptionSuccess: false,
      ipAddress: meta.ip,
      userAgent: meta.userAgent,
      toolName: meta.toolName,
      requestId: meta.requestId,
      outcome,
      reason,
      itemCount: items,
    };
  }

  private check(permissions: PermissionView[], write: boolean, items?: number) {
    const permission = permissions.find((p) => p.resourceType === 'github');
    const refused = refusalOf(
      permission,
      { resourceType: 'github', level: 'metadata', write, items },
      new Date(),
    );
    const allowList = permission?.conditions.resource_ids?.map((id) => id.toLowerCase());
    return { refused, allows: (id: string) => !allowList || allowList.includes(id.toLowerCase()) };
  }

  async listRepos(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
  ): Promise<RepoView[]> {
    const c = this.check(permissions, false);
    if (c.refused) throw new ToolRefusal('Access refused.', c.refused.hint, c.refused.reason);
    const { service } = await this.github.parts();
    const repos = (await service.repos(caller.userId)).filter((r) => c.allows(r.id));
    await this.audit.record(repos.map((r) => this.row(caller, meta, r.id, 'allowed', null)));
    return repos;
  }

  /** One repository the call names: allowed, or audited and refused with the one answer. */
  private async oneRepo(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    repoId: string,
    write: boolean,
    items?: number,
  ) {
    const c = this.check(permissions, write, items);
    const { service } = await this.github.parts();
    const deny = async (reason: string, refusal: ToolRefusal): Promise<never> => {
      await this.audit.record([this.row(caller, meta, repoId, 'denied', reason)]);
      throw refusal;
    };
    if (c.refused)
      return deny(
        c.refused.reason,
        new ToolRefusal('Access refused.', c.refused.hint, c.refused.reason),
      );
    const notFound = new ToolRefusal(
      NO_ACCESS,
      'Check the repository id with list_repos.',
      'not-found',
    );
    if (!c.allows(repoId)) return deny('not-found', notFound);
    try {
      await service.ownRepo(caller.userId, repoId);
    } catch (err) {
      if (err instanceof NotFoundError) return deny('not-found', notFound);
      throw err;
    }
    return service;
  }

  async listDeployments(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    repoId: string,
    limit: number,
  ): Promise<DeploymentView[]> {
    const service = await this.oneRepo(caller, meta, permissions, repoId, false, limit);
    const list = await service.history(caller.userId, repoId, limit);
    await this.audit.record([this.row(caller, meta, repoId, 'allowed', null, list.length)]);
    return list;
  }

  async triggerDeploy(
    caller: AgentCaller,
    meta: CallMeta,
    permissions: PermissionView[],
    repoId: string,
    input: { sha?: string; rollback?: boolean },
  ): Promise<DeploymentView> {
    const service = await this.oneRepo(caller, meta, permissions, repoId, true);
    await this.audit.record([
      this.row(caller, meta, repoId, 'allowed', input.rollback ? 'rollback' : 'deploy'),
    ]);
    try {
      return input.rollback || !input.sha
        ? await service.rollback(caller.userId, repoId)
        : await service.requestDeploy(caller.userId, repoId, { sha: input.sha, trigger: 'manual' });
    } catch (err) {
      if ((err as { type?: string }).type === 'no-rollback-target')
        throw new ToolRefusal(
          'There is no earlier successful deploy to roll back to.',
          'Give a commit sha to deploy instead.',
          'no-rollback-target',
        );
      throw err;
    }
  }
}
