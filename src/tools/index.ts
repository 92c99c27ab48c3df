import { fileInfoTool } from './file_info.ts';
import { forgetTool } from './forget.ts';
import { listChatsTool } from './list_chats.ts';
import { listDeploymentsTool } from './list_deployments.ts';
import { listFilesTool } from './list_files.ts';
import { listReposTool } from './list_repos.ts';
import { postMessageTool } from './post_message.ts';
import { readFileTool } from './read_file.ts';
import { readMessagesTool } from './read_messages.ts';
import { recallTool } from './recall.ts';
import { rememberTool } from './remember.ts';
import { searchMessagesTool } from './search_messages.ts';
import type { ToolDef } from './tool.ts';
import { triggerDeployTool } from './trigger_deploy.ts';
import { whoamiTool } from './whoami.ts';

/** Every MCP tool of the gateway; `tools/list` shows each agent the ones its permissions allow. */
export const TOOLS: ToolDef[] = [
  whoamiTool,
  listChatsTool,
  readMessagesTool,
  searchMessagesTool,
  postMessageTool,
  listFilesTool,
  fileInfoTool,
  readFileTool,
  rememberTool,
  recallTool,
  forgetTool,
  listReposTool,
  listDeploymentsTool,
  triggerDeployTool,
] as unknown as ToolDef[];
