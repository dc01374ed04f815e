// ui_files.test.mjs - the Inspector's Files panel (/ui/#/files) in headless Chromium against
// our binary: upload, browse, view text and images, download (bytes compared), mkdir, move,
// delete, a tar batch of two files, and a refused path shown inline. Each step is checked
// in the page and on the server's disk (the server's HOME is the test's temporary dir).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';
import { startServer } from './lib/server.mjs';
import { artifact, chromiumMissing, launchBrowser, openPage } from './lib/browser.mjs';

/** A w x h red RGB PNG (the viewer must decode it: naturalWidth is checked). */
function redPng(w, h) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3).fill(Buffer.from([220, 30, 30]))]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
const PNG = redPng(40, 30);

test('Files panel: upload, browse, view, download, mkdir, move, delete, tar batch', { skip: chromiumMissing() || false }, async () => {
  const srv = await startServer();
  const browser = await launchBrowser();
  try {
    const base = srv.baseUrl;
    const home = fs.realpathSync(srv.home);
    const { page, problems } = await openPage(browser, `${base}/ui/#/files`);
    const panel = page.locator('#panel-files');
    const row = (name) => panel.locator(`#fs-list tbody tr[data-name="${name}"]`);
    await page.locator('button[data-tab=files]').waitFor();

    // It starts in the server's home.
    await page.waitForFunction((h) => document.querySelector('#fs-path')?.value === h, home);

    // Upload one file.
    const text = 'hello from the browser\nline two\n';
    await panel.locator('#fs-upload').setInputFiles({ name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
    await row('hello.txt').waitFor();
    assert.equal(fs.readFileSync(path.join(home, 'hello.txt'), 'utf8'), text);
    assert.match(await row('hello.txt').textContent(), /32 B/);

    // mkdir, then move the file into it.
    await panel.locator('#fs-mkdir-name').fill('docs');
    await panel.locator('#fs-mkdir').click();
    await row('docs').waitFor();
    assert.equal(await row('docs').getAttribute('data-type'), 'directory');
    assert.ok(fs.statSync(path.join(home, 'docs')).isDirectory());
    // Directories are listed first.
    const types = await panel.locator('#fs-list tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.type));
    assert.deepEqual(types, [...types].sort(), `directories first: ${types}`);

    await row('hello.txt').locator('[data-act=move]').click();
    await panel.locator('#fs-move-to').fill(`${home}/docs/renamed.txt`);
    await panel.locator('#fs-move-to').press('Enter');
    await row('hello.txt').waitFor({ state: 'detached' });
    assert.equal(fs.readFileSync(path.join(home, 'docs/renamed.txt'), 'utf8'), text);
    assert.ok(!fs.existsSync(path.join(home, 'hello.txt')));

    // Browse into it (breadcrumbs follow) and view the file.
    await row('docs').locator('button.linkish').click();
    await page.waitForFunction((h) => document.querySelector('#fs-path')?.value === h + '/docs', home);
    assert.match(await panel.locator('.fs-crumbs').textContent(), /docs$/);
    await row('renamed.txt').locator('button.linkish').click();
    await panel.locator('.fs-view pre.fs-text').waitFor();
    assert.equal(await panel.locator('.fs-view pre.fs-text').textContent(), text);

    // Download: the saved bytes are the file's.
    const [dl] = await Promise.all([page.waitForEvent('download'), row('renamed.txt').locator('[data-act=download]').click()]);
    assert.equal(dl.suggestedFilename(), 'renamed.txt');
    assert.equal(fs.readFileSync(await dl.path(), 'utf8'), text);

    // An image is shown as an image.
    await panel.locator('#fs-upload').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await row('dot.png').locator('button.linkish').click();
    const img = panel.locator('.fs-view img.fs-img');
    await img.waitFor();
    await page.waitForFunction(() => document.querySelector('.fs-view img.fs-img')?.naturalWidth === 40);
    assert.match(await panel.locator('.fs-view-head').textContent(), /image\/png/);

    // A binary file is not dumped as text.
    await panel.locator('#fs-upload').setInputFiles({ name: 'blob.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0, 1, 2, 3, 255]) });
    await row('blob.bin').locator('button.linkish').click();
    await panel.locator('.fs-view .note', { hasText: 'Binary file' }).waitFor();

    // Tar batch: two files picked at once arrive as one upload-batch and are both listed.
    const reqs = [];
    page.on('request', (r) => reqs.push(`${r.method()} ${new URL(r.url()).pathname} ${r.headers()['content-type'] || ''}`));
    await panel.locator('#fs-upload-batch').setInputFiles([
      { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('AAA') },
      { name: 'b.md', mimeType: 'text/markdown', buffer: Buffer.from('# B\n') },
    ]);
    await row('a.txt').waitFor();
    await row('b.md').waitFor();
    assert.ok(reqs.some((r) => r.startsWith('POST /v1/fs/upload-batch application/x-tar')), reqs.join('\n'));
    assert.equal(fs.readFileSync(path.join(home, 'docs/a.txt'), 'utf8'), 'AAA');
    assert.equal(fs.readFileSync(path.join(home, 'docs/b.md'), 'utf8'), '# B\n');
    await artifact(page, 'files');

    // Delete a file (after a confirm), then go up and delete the directory recursively.
    page.once('dialog', (d) => d.accept());
    await row('a.txt').locator('[data-act=delete]').click();
    await row('a.txt').waitFor({ state: 'detached' });
    assert.ok(!fs.existsSync(path.join(home, 'docs/a.txt')));
    await panel.locator('#fs-up').click();
    await page.waitForFunction((h) => document.querySelector('#fs-path')?.value === h, home);
    // Refusing the confirm sends nothing (confirm() runs inside the click's handler, so
    // any DELETE would have been issued before click() returns).
    page.once('dialog', (d) => d.dismiss());
    await row('docs').locator('[data-act=delete]').click();
    assert.equal(reqs.filter((r) => r.startsWith('DELETE')).length, 1, reqs.join('\n')); // a.txt's only
    assert.ok(fs.existsSync(path.join(home, 'docs/b.md')));
    page.once('dialog', (d) => d.accept());
    await row('docs').locator('[data-act=delete]').click();
    await row('docs').waitFor({ state: 'detached' });
    assert.ok(!fs.existsSync(path.join(home, 'docs')));

    // A path that does not exist: the server's problem is shown inline. Chromium logs
    // every 4xx answer as a console error, so this step's own one is set aside.
    assert.deepEqual(problems, []);
    await panel.locator('#fs-path').fill('/no/such/dir');
    await panel.locator('#fs-path').press('Enter');
    await panel.locator('.fs-err:not(.hidden)').waitFor();
    assert.match(await panel.locator('.fs-err').textContent(), /path not found: \/no\/such\/dir/);
    assert.ok(problems.every((p) => /Failed to load resource: .* 400/.test(p)), problems.join('\n'));
  } finally {
    await browser.close();
    await srv.stop();
  }
});
