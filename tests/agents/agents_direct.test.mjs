// agents_direct.test.mjs - drive each REAL adapter directly over stdio (drive_acp.mjs) against
// the fake LLM. Opt-in: runs only when AGENTS_DIR points at the dir install_agents.sh filled
// (AGENTS_DIR/<agent>/node_modules/...); agents not installed there are skipped.
//
//   bash tests/agents/install_agents.sh /tmp/agents-scratch
//   AGENTS_DIR=/tmp/agents-scratch node --test tests/agents/agents_direct.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = process.env.AGENTS_DIR;
const bins = { claude: "claude-agent-acp", codex: "codex-acp", opencode: "opencode", pi: "pi-acp" };

function drive(agent, args = []) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(here, "drive_acp.mjs"), agent, "--prefix", path.join(dir, agent), "--quiet", "--timeout", "90", "--eof-wait", "1", ...args],
      { timeout: 180_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const m = stdout.match(/^SUMMARY (\{[\s\S]*\n\})$/m);
        resolve({ code: err ? err.code ?? 1 : 0, summary: m ? JSON.parse(m[1]) : null, stdout, stderr });
      },
    );
  });
}

const scenarios = [
  { name: "writes hello.txt through its own file tool", args: [] },
  { name: "session/cancel ends the turn with cancelled", args: ["--cancel-after", "1500"] },
];

for (const agent of Object.keys(bins)) {
  const installed = dir && fs.existsSync(path.join(dir, agent, "node_modules", ".bin", bins[agent]));
  for (const sc of scenarios) {
    test(`${agent}: ${sc.name}`, { skip: !installed && `set AGENTS_DIR to an install_agents.sh dir holding ${agent}`, timeout: 200_000 }, async () => {
      const r = await drive(agent, sc.args);
      assert.ok(r.summary, `no SUMMARY from drive_acp.mjs:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
      assert.deepEqual(r.summary.errors, []);
      assert.equal(r.code, 0, JSON.stringify(r.summary, null, 1).slice(0, 4000));
      assert.equal(r.summary.ok, true);
    });
  }
}
