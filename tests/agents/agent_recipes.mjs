// agent_recipes.mjs - how to launch each real ACP adapter against the fake LLM (tested
// recipes; see README.md in this folder for the findings behind them).
//
// RECIPES[agent].launch({prefix, home, llmUrl, cwd, direct?, maxRetries?})
//     -> {command, args, env, mode?, authenticate?}   (mode: call session/set_mode with it)
//   prefix : npm prefix dir the adapter was installed into (npm install --prefix <prefix> ...)
//   home   : a private HOME for the agent (config files are written there by launch())
//   llmUrl : fake LLM base URL without /v1, e.g. http://127.0.0.1:PORT
// RECIPES[agent].writeTool({cwd, file, content}) -> {name, arguments}  the tool call that
//   makes this agent write `content` to `<cwd>/<file>`.
// RECIPES[agent].writeToolName : the tool name to look for in the request's `tools`.

import fs from "node:fs";
import path from "node:path";

const bin = (prefix, name) => path.join(prefix, "node_modules", ".bin", name);
const onPath = (name) => (process.env.PATH ?? "").split(":").some((d) => d && fs.existsSync(path.join(d, name)));

export const RECIPES = {
  claude: {
    install: ["@zed-industries/claude-agent-acp@0.23.1"],
    writeToolName: "Write",
    writeTool: ({ cwd, file, content }) => ({ name: "Write", arguments: { file_path: path.join(cwd, file), content } }),
    altTools: {
      Bash: ({ file, content }) => ({ name: "Bash", arguments: { command: `printf '%s' '${content}' > ${file}`, description: "Write the file" } }),
    },
    // maxRetries: Claude Code retries a failing model call (5xx/529) 10 times with exponential
    // backoff (minutes) by default; CLAUDE_CODE_MAX_RETRIES bounds that.
    launch({ prefix, home, llmUrl, maxRetries }) {
      return {
        command: bin(prefix, "claude-agent-acp"),
        args: [],
        env: {
          HOME: home,
          ANTHROPIC_BASE_URL: llmUrl,
          ANTHROPIC_API_KEY: "sk-ant-fake-key",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_TELEMETRY: "1",
          DISABLE_AUTOUPDATER: "1",
          DISABLE_ERROR_REPORTING: "1",
          IS_SANDBOX: "1",
          ...(maxRetries === undefined ? {} : { CLAUDE_CODE_MAX_RETRIES: String(maxRetries) }),
        },
      };
    },
  },

  codex: {
    install: ["@zed-industries/codex-acp@0.16.0"],
    writeToolName: "exec_command",
    writeTool: ({ cwd, file, content }) => ({ name: "exec_command", arguments: { cmd: `printf '%s' '${content}' > ${file}`, workdir: cwd } }),
    altTools: {
      // Asks for unsandboxed execution: codex then sends session/request_permission (any mode
      // except full-access).
      exec_escalated: ({ file, content, cwd }) => ({
        name: "exec_command",
        arguments: { cmd: `printf '%s' '${content}' > ${file}`, workdir: cwd, sandbox_permissions: "require_escalated", justification: "Write the requested file" },
      }),
      // apply_patch is a "custom" (freeform) tool in the Responses API: the input is raw patch text.
      apply_patch: ({ file, content }) => ({ name: "apply_patch", arguments: `*** Begin Patch\n*** Add File: ${file}\n+${content}\n*** End Patch\n` }),
    },
    // direct: run the native binary from the platform package instead of the Node wrapper
    // bin/codex-acp.js (which spawnSync()s it: one process less, nothing left orphaned).
    // maxRetries: codex retries a failing model call (5xx) ~30 times over ~25 s by default.
    // configFile: write $CODEX_HOME/config.toml instead of passing -c args.
    launch({ prefix, home, llmUrl, direct = false, maxRetries, configFile = false }) {
      const retries = maxRetries === undefined ? "" : `,request_max_retries=${maxRetries},stream_max_retries=${maxRetries}`;
      const codexHome = path.join(home, ".codex");
      // Codex refuses to create its sandbox helper binaries when CODEX_HOME is under the temp
      // dir (TMPDIR, default /tmp); point TMPDIR somewhere that does not contain CODEX_HOME.
      const tmp = path.join(home, "tmp");
      fs.mkdirSync(codexHome, { recursive: true });
      fs.mkdirSync(tmp, { recursive: true });
      const provider = `{name="Fake",base_url="${llmUrl}/v1",env_key="OPENAI_API_KEY",wire_api="responses"${retries}}`;
      if (configFile)
        fs.writeFileSync(path.join(codexHome, "config.toml"), `model_provider = "fake"\nmodel = "gpt-5.4"\n\n[model_providers]\nfake = ${provider}\n`);
      return {
        command: direct ? path.join(prefix, "node_modules", "@zed-industries", `codex-acp-linux-${process.arch === "arm64" ? "arm64" : "x64"}`, "bin", "codex-acp") : bin(prefix, "codex-acp"),
        args: configFile ? [] : ["-c", 'model_provider="fake"', "-c", 'model="gpt-5.4"', "-c", `model_providers.fake=${provider}`],
        env: { HOME: home, CODEX_HOME: codexHome, TMPDIR: tmp, OPENAI_API_KEY: "sk-fake-key" },
        // "auto" (workspace-write) runs shell commands under bubblewrap; without bwrap on PATH
        // every exec fails, so fall back to "full-access" (no sandbox). Installed through our
        // server, codex brings its own bwrap (docs/agents.md); this is for direct drives.
        mode: onPath("bwrap") ? "auto" : "full-access",
      };
    },
  },

  opencode: {
    install: ["opencode-ai@1.18.33"],
    writeToolName: "write",
    writeTool: ({ cwd, file, content }) => ({ name: "write", arguments: { filePath: path.join(cwd, file), content } }),
    altTools: {
      bash: ({ file, content }) => ({ name: "bash", arguments: { command: `printf '%s' '${content}' > ${file}` } }),
    },
    launch({ prefix, home, llmUrl }) {
      const config = {
        provider: {
          fake: {
            npm: "@ai-sdk/openai-compatible",
            name: "Fake LLM",
            options: { baseURL: `${llmUrl}/v1`, apiKey: "x" },
            models: { "fake-model": { name: "Fake Model", tool_call: true } },
          },
        },
        model: "fake/fake-model",
        autoupdate: false,
        share: "disabled",
      };
      return {
        command: bin(prefix, "opencode"),
        args: ["acp"],
        env: {
          HOME: home,
          XDG_DATA_HOME: path.join(home, ".local", "share"),
          XDG_CONFIG_HOME: path.join(home, ".config"),
          XDG_CACHE_HOME: path.join(home, ".cache"),
          XDG_STATE_HOME: path.join(home, ".local", "state"),
          OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
          OPENCODE_DISABLE_MODELS_FETCH: "1",
          OPENCODE_DISABLE_AUTOUPDATE: "1",
          OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
          OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
          OPENCODE_DISABLE_SHARE: "1",
          // opencode installs @opencode-ai/plugin into its config dir in the background with an
          // embedded npm client (registry.npmjs.org); point it at a dead local URL instead.
          npm_config_registry: `${llmUrl}/no-npm-registry/`,
        },
      };
    },
  },

  pi: {
    install: ["pi-acp@0.0.23", "@mariozechner/pi-coding-agent@0.73.1"],
    writeToolName: "write",
    writeTool: ({ cwd, file, content }) => ({ name: "write", arguments: { path: path.join(cwd, file), content } }),
    altTools: {
      bash: ({ file, content }) => ({ name: "bash", arguments: { command: `printf '%s' '${content}' > ${file}` } }),
    },
    launch({ prefix, home, llmUrl }) {
      const agentDir = path.join(home, ".pi", "agent");
      fs.mkdirSync(agentDir, { recursive: true });
      fs.writeFileSync(
        path.join(agentDir, "models.json"),
        JSON.stringify({
          providers: {
            fake: {
              baseUrl: `${llmUrl}/v1`,
              api: "openai-completions",
              apiKey: "x",
              compat: { supportsDeveloperRole: false, supportsReasoningEffort: false },
              models: [{ id: "fake-model", name: "Fake Model" }],
            },
          },
        }),
      );
      fs.writeFileSync(path.join(agentDir, "settings.json"), JSON.stringify({ defaultProvider: "fake", defaultModel: "fake-model", quietStartup: true }));
      return {
        command: bin(prefix, "pi-acp"),
        args: [],
        env: {
          HOME: home,
          PI_CODING_AGENT_DIR: agentDir,
          PATH: `${path.join(prefix, "node_modules", ".bin")}:${process.env.PATH}`,
        },
      };
    },
  },
};

/** A fake-LLM script that makes `recipe`'s agent write `content` into `<cwd>/<file>`:
 *  tool result present -> "done"; write tool offered -> call it; otherwise plain text
 *  (auxiliary calls such as title generation). */
export function writeFileScript(recipe, { cwd, file, content }) {
  return (req) => {
    if (req.hasToolResult) return { text: "done" };
    if (req.tools.includes(recipe.writeToolName)) return { text: "Writing the file.", toolCall: recipe.writeTool({ cwd, file, content }) };
    return { text: "Hello title" };
  };
}
