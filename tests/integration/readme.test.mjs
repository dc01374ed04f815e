// The README's SDK example, run as written (only the address changed): it must finish its
// turn and then let Node exit by itself (sdk.dispose() closes the SSE stream and the agent).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { withServer, waitFor, REPO } from './lib/server.mjs';

function readmeExample() {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = readme.match(/```js\n([\s\S]*?)```/);
  assert.ok(m, 'README.md has a ```js example');
  return m[1];
}

describe('README', () => {
  test('the SDK example runs to the end and Node exits on its own', () =>
    withServer({}, async (srv) => {
      const code = readmeExample();
      assert.match(code, /http:\/\/127\.0\.0\.1:2468/);
      assert.match(code, /sdk\.dispose\(\)/);
      // Beside tests/node_modules, so `import "sandbox-agent"` resolves as in a user's project.
      const file = path.join(REPO, 'tests', `.readme-example-${process.pid}.mjs`);
      fs.writeFileSync(file, code.replace('http://127.0.0.1:2468', srv.baseUrl) + '\nconsole.log("example finished");\n');
      try {
        const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const exit = new Promise((resolve) => child.on('exit', (c, s) => resolve({ c, s })));
        let done = null;
        exit.then((r) => (done = r));
        try {
          await waitFor(() => done, { timeoutMs: 30000, what: () => `the example to exit by itself; output: ${out}` });
        } finally {
          child.kill('SIGKILL');
        }
        assert.deepEqual(done, { c: 0, s: null }, out);
        assert.match(out, /example finished/);
      } finally {
        fs.rmSync(file, { force: true });
      }
      await waitFor(() => srv.descendants().length === 0, { what: 'the mock agent gone after dispose' });
    }));
});

describe('docs/architecture.md', () => {
  test('the module map names every source folder and file of the tree, and nothing else', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs/architecture.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `src\/([a-z_]+)\/` \| ([^|]*) \|/gm)];
    const mapped = new Map(rows.map((m) => [m[1], [...m[2].matchAll(/`([a-z_]+\.c)`/g)].map((f) => f[1]).sort()]));
    const src = path.join(REPO, 'src');
    const tree = new Map(
      fs.readdirSync(src, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => [d.name, fs.readdirSync(path.join(src, d.name)).filter((f) => f.endsWith('.c')).sort()]),
    );
    assert.deepEqual([...mapped.keys()].sort(), [...tree.keys()].sort(), 'one row per folder of src/');
    for (const [dir, files] of tree) assert.deepEqual(mapped.get(dir), files, `the files of src/${dir}/`);
  });
});
