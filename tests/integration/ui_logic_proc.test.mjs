// ui_logic_proc.test.mjs - the DOM-free helpers of the Processes and Run once panels
// (web/js/proc_logic.js): argument splitting, env lines, request bodies, base64 log
// entries, the SSE reader and ANSI stripping.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  splitArgs, parseEnv, entryBytes, sseReader, stripAnsi, commandLine, statusText, listPath, buildBody,
} from '../../web/js/proc_logic.js';

test('splitArgs splits like a shell without expansions', () => {
  assert.deepEqual(splitArgs(''), []);
  assert.deepEqual(splitArgs('  a  b\tc '), ['a', 'b', 'c']);
  assert.deepEqual(splitArgs(`-c 'echo "hi there"; exit 3'`), ['-c', 'echo "hi there"; exit 3']);
  assert.deepEqual(splitArgs(`"a b" c\\ d '' ""`), ['a b', 'c d', '', '']);
  assert.deepEqual(splitArgs(`"say \\"x\\" \\n $HOME"`), ['say "x" \\n $HOME']);
  assert.deepEqual(splitArgs(`pre'fix'"ed"`), ['prefixed']);
  assert.throws(() => splitArgs(`'open`), /unclosed single quote/);
  assert.throws(() => splitArgs(`"open`), /unclosed double quote/);
});

test('parseEnv reads KEY=VALUE lines and rejects others', () => {
  assert.deepEqual(parseEnv(''), {});
  assert.deepEqual(parseEnv('A=1\n\n# note\nB=x=y\nC=\n'), { A: '1', B: 'x=y', C: '' });
  assert.throws(() => parseEnv('A=1\nnope'), /env line 2/);
  assert.throws(() => parseEnv('=v'), /env line 1/);
});

test('buildBody sends only filled fields and checks numbers', () => {
  assert.deepEqual(buildBody({ command: ' bash ', args: '', cwd: '', env: '', tty: true }, 'create'),
    { command: 'bash', tty: true, interactive: false });
  assert.deepEqual(buildBody({ command: 'sh', args: `-c 'exit 3'`, cwd: '/tmp', env: 'K=v' }, 'run'),
    { command: 'sh', args: ['-c', 'exit 3'], cwd: '/tmp', env: { K: 'v' } });
  assert.deepEqual(buildBody({ command: 'sleep', args: '5', timeoutMs: '300', maxOutputBytes: '0' }, 'run'),
    { command: 'sleep', args: ['5'], timeoutMs: 300, maxOutputBytes: 0 });
  assert.throws(() => buildBody({ command: '  ' }, 'run'), /command is required/);
  assert.throws(() => buildBody({ command: 'x', timeoutMs: '1.5' }, 'run'), /timeout must be a whole number/);
  assert.throws(() => buildBody({ command: 'x', maxOutputBytes: '-1' }, 'run'), /output cap/);
});

test('entryBytes decodes base64 entries, including bytes split inside a UTF-8 sequence', () => {
  const bytes = entryBytes({ data: Buffer.from('héllo\n').toString('base64'), encoding: 'base64' });
  assert.equal(Buffer.from(bytes).toString(), 'héllo\n');
  const all = Buffer.from('€');
  const dec = new TextDecoder();
  const a = dec.decode(entryBytes({ data: all.subarray(0, 1).toString('base64'), encoding: 'base64' }), { stream: true });
  const b = dec.decode(entryBytes({ data: all.subarray(1).toString('base64'), encoding: 'base64' }), { stream: true });
  assert.equal(a + b, '€');
  assert.equal(Buffer.from(entryBytes({ data: 'plain', encoding: 'utf8' })).toString(), 'plain');
});

test('sseReader yields whole events across chunk boundaries and drops comments', () => {
  const r = sseReader();
  assert.deepEqual(r.feed('event: log\nid: 1\nda'), []);
  assert.deepEqual(r.feed('ta: {"sequence":1}\n\n:\n\nevent: log\r\nid: 2\r\ndata: {"sequence":2}\r\n'), [{ event: 'log', id: '1', data: '{"sequence":1}' }]);
  assert.deepEqual(r.feed('\r\n'), [{ event: 'log', id: '2', data: '{"sequence":2}' }]);
  assert.deepEqual(r.feed('data: a\ndata: b\n\n'), [{ event: 'message', id: null, data: 'a\nb' }]);
});

test('stripAnsi leaves the text of a pty log', () => {
  assert.equal(stripAnsi('\x1b[?2004h\x1b]0;user@host: ~\x07\x1b[01;32muser\x1b[00m$ echo hi\r\nhi\r\n'), 'user$ echo hi\nhi\n');
  assert.equal(stripAnsi('50%\r100%\n'), '100%\n');
  assert.equal(stripAnsi('a\x07b\x1b(Bc'), 'abc');
});

test('commandLine, statusText and listPath', () => {
  assert.equal(commandLine('sh', ['-c', "echo 'x'"]), `sh -c 'echo '\\''x'\\'''`);
  assert.equal(commandLine('ls', ['-la', '/tmp']), 'ls -la /tmp');
  assert.equal(statusText({ status: 'running' }), 'running');
  assert.equal(statusText({ status: 'exited', exitCode: 0 }), 'exited 0');
  assert.equal(statusText({ status: 'exited' }), 'killed (signal)');
  assert.equal(listPath('all'), '/v1/processes');
  assert.equal(listPath('desktop'), '/v1/processes?owner=desktop');
});
