-- GitHub connector and auto-deploy (issue 13).
-- Secrets in github_integrations are sealed envelopes (key id + AES-256-GCM, see src/github/sealing.ts),
-- never plaintext. The seed's JSONB `connected_repos` column stays for compatibility but is unused:
-- repositories get a table of their own, so deploys can reference and lock them.
ALTER TABLE github_integrations
ADD COLUMN github_login VARCHAR(100),
ADD COLUMN token_kind VARCHAR(20) NOT NULL DEFAULT 'token' CHECK (token_kind IN ('token', 'oauth'));

CREATE TABLE connected_repos (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    integration_id UUID NOT NULL REFERENCES github_integrations(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id),
    github_repo_id BIGINT NOT NULL,
    owner VARCHAR(100) NOT NULL,
    name VARCHAR(100) NOT NULL,
    branch VARCHAR(255) NOT NULL,
    environment VARCHAR(100) NOT NULL,
    -- {"type":"workflow_dispatch","workflow":"deploy.yml","inputs":{...}} or
    -- {"type":"hook","url":"https://...","timeoutMs":10000} (the hook's HMAC key is the webhook secret)
    strategy JSONB NOT NULL,
    required_contexts TEXT[],
    environment_url TEXT,
    notify_chat_id UUID REFERENCES chats(id) ON DELETE SET NULL,
    auto_deploy_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    github_hook_id BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (integration_id, github_repo_id, environment)
);
CREATE INDEX idx_connected_repos_lookup ON connected_repos (integration_id, github_repo_id);
CREATE INDEX idx_connected_repos_user ON connected_repos (user_id);

-- Every verified delivery, once: the primary key is the dedupe.
CREATE TABLE webhook_deliveries (
    delivery_id VARCHAR(100) PRIMARY KEY,
    integration_id UUID NOT NULL REFERENCES github_integrations(id) ON DELETE CASCADE,
    event VARCHAR(100) NOT NULL,
    action VARCHAR(100),
    -- 'deploy', 'ignored', 'workflow-run', 'ping'
    outcome VARCHAR(30) NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_webhook_deliveries_integration ON webhook_deliveries (integration_id, received_at);

-- Deploy history and the per-(repo, environment) state machine:
-- queued → in_progress → success | failure | error, or queued → superseded (never run).
CREATE TABLE deployments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repo_id UUID NOT NULL REFERENCES connected_repos(id) ON DELETE CASCADE,
    environment VARCHAR(100) NOT NULL,
    ref VARCHAR(255) NOT NULL,
    sha VARCHAR(64) NOT NULL,
    trigger VARCHAR(20) NOT NULL CHECK (trigger IN ('push', 'manual', 'rollback')),
    state VARCHAR(20) NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'in_progress', 'success', 'failure', 'error', 'superseded')),
    reason TEXT,
    delivery_id VARCHAR(100),
    requested_by UUID REFERENCES users(id),
    github_deployment_id BIGINT,
    log_url TEXT,
    environment_url TEXT,
    -- The outbox id (= BullMQ job id) of the job running it: only that job resumes it after a
    -- worker died; a second job for the same deploy (a kick after the previous one ended) stands down.
    owner_job UUID,
    strategy_started_at TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ,
    note_posted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
CREATE INDEX idx_deployments_repo ON deployments (repo_id, environment, created_at DESC);
CREATE INDEX idx_deployments_open ON deployments (state) WHERE state IN ('queued', 'in_progress');
-- At most one running deploy per (repo, environment), enforced by the database itself.
CREATE UNIQUE INDEX idx_deployments_one_running ON deployments (repo_id, environment) WHERE state = 'in_progress';
