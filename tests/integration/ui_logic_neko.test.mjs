// ui_logic_neko.test.mjs - the Inspector's neko input encoding (web/js/neko.js), without a
// browser: KeyboardEvent keys to X keysyms as the SDK's DesktopStreamSession maps them, and the
// binary messages byte for byte as the server's decoder (src/desktop/neko.c) reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keysymOf, nekoMessage, NEKO } from '../../web/js/neko.js';

const bytes = (buf) => [...new Uint8Array(buf)];

test('keysymOf: characters, Latin-1, Unicode, named keys, right-hand modifiers, nothing', () => {
  assert.equal(keysymOf('a'), 0x61);
  assert.equal(keysymOf('A'), 0x41);
  assert.equal(keysymOf('!'), 0x21);
  assert.equal(keysymOf(' '), 0x20);
  assert.equal(keysymOf('é'), 0xe9);
  assert.equal(keysymOf('€'), 0x10020ac);
  assert.equal(keysymOf('日'), 0x10065e5);
  assert.equal(keysymOf('😀'), 0x101f600, 'astral characters are one keysym, not two halves');
  assert.equal(keysymOf('Enter'), 0xff0d);
  assert.equal(keysymOf('Backspace'), 0xff08);
  assert.equal(keysymOf('ArrowLeft'), 0xff51);
  assert.equal(keysymOf('F1'), 0xffbe);
  assert.equal(keysymOf('F12'), 0xffc9);
  assert.equal(keysymOf('Shift', 'ShiftLeft'), 0xffe1);
  assert.equal(keysymOf('Shift', 'ShiftRight'), 0xffe2);
  assert.equal(keysymOf('Control', 'ControlRight'), 0xffe4);
  assert.equal(keysymOf('Dead'), 0);
  assert.equal(keysymOf('Unidentified'), 0);
  assert.equal(keysymOf(''), 0);
});

test('nekoMessage: big-endian fields in the sizes the server checks', () => {
  assert.deepEqual(bytes(nekoMessage(NEKO.MOVE, 300, 200)), [1, 0, 4, 0x01, 0x2c, 0x00, 0xc8]);
  assert.deepEqual(bytes(nekoMessage(NEKO.MOVE, -5, 70000)), [1, 0, 4, 0, 0, 0xff, 0xff], 'clamped to u16');
  assert.deepEqual(bytes(nekoMessage(NEKO.SCROLL, -120, 3, 0)), [2, 0, 5, 0xff, 0x88, 0x00, 0x03, 0x00]);
  assert.deepEqual(bytes(nekoMessage(NEKO.KEYDOWN, 0xff0d)), [3, 0, 4, 0, 0, 0xff, 0x0d]);
  assert.deepEqual(bytes(nekoMessage(NEKO.KEYUP, 0x10020ac)), [4, 0, 4, 0x01, 0x00, 0x20, 0xac]);
  assert.deepEqual(bytes(nekoMessage(NEKO.BTNDOWN, 3)), [5, 0, 4, 0, 0, 0, 3]);
  assert.deepEqual(bytes(nekoMessage(NEKO.BTNUP, 1)), [6, 0, 4, 0, 0, 0, 1]);
});
