// ui_logic_desktop_input.test.mjs - the desktop panel's pure logic (web/js/desktop_input.js):
// browser keys to desktop keys, view clicks to desktop pixels, the live view's scale, the
// launch field's argument splitting, and the input queue's order and batching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyAction, viewToDesktop, fitScale, splitArgs, InputQueue } from '../../web/js/desktop_input.js';

const k = (key, mods = {}) => keyAction({ key, ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, altGraph: false, ...mods });

test('keyAction: printable characters are text, named keys are X keysyms', () => {
  assert.deepEqual(k('a'), { text: 'a' });
  assert.deepEqual(k('A', { shiftKey: true }), { text: 'A' }, 'shift is already in the character');
  assert.deepEqual(k(' '), { text: ' ' });
  assert.deepEqual(k('é'), { text: 'é' });
  assert.deepEqual(k('😀'), { text: '😀' }, 'one code point of two UTF-16 units is one character');
  assert.deepEqual(k('Enter'), { press: 'Return' });
  assert.deepEqual(k('Backspace'), { press: 'BackSpace' });
  assert.deepEqual(k('Tab'), { press: 'Tab' });
  assert.deepEqual(k('Escape'), { press: 'Escape' });
  assert.deepEqual(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight'].map((x) => k(x).press), ['Up', 'Down', 'Left', 'Right']);
  assert.deepEqual(k('PageDown'), { press: 'Page_Down' });
  assert.deepEqual(k('F5'), { press: 'F5' });
});

test('keyAction: modifiers travel with the key; lone modifiers and unknown keys send nothing', () => {
  assert.deepEqual(k('c', { ctrlKey: true }), { press: 'c', modifiers: { ctrl: true } });
  assert.deepEqual(k('C', { ctrlKey: true, shiftKey: true }), { press: 'c', modifiers: { ctrl: true, shift: true } });
  assert.deepEqual(k('Tab', { shiftKey: true }), { press: 'Tab', modifiers: { shift: true } });
  assert.deepEqual(k('F4', { altKey: true }), { press: 'F4', modifiers: { alt: true } });
  assert.deepEqual(k('l', { metaKey: true }), { press: 'l', modifiers: { cmd: true } });
  assert.deepEqual(k(' ', { ctrlKey: true }), { press: 'space', modifiers: { ctrl: true } });
  assert.deepEqual(k('@', { ctrlKey: true, altKey: true, altGraph: true }), { text: '@' }, 'AltGr makes characters');
  for (const m of ['Shift', 'Control', 'Alt', 'Meta', 'CapsLock', 'Dead', 'Unidentified', 'AudioVolumeUp', '']) assert.equal(k(m), null, m);
  assert.deepEqual(k(']', { ctrlKey: true }), { release: true }, 'Ctrl+] gives the keyboard back');
});

test('viewToDesktop maps through the scale and clamps to the screen', () => {
  assert.deepEqual(viewToDesktop(0, 0, 400, 300, 800, 600), { x: 0, y: 0 });
  assert.deepEqual(viewToDesktop(200, 150, 400, 300, 800, 600), { x: 400, y: 300 });
  assert.deepEqual(viewToDesktop(399.9, 299.9, 400, 300, 800, 600), { x: 799, y: 599 });
  assert.deepEqual(viewToDesktop(401, -3, 400, 300, 800, 600), { x: 799, y: 0 });
  assert.deepEqual(viewToDesktop(100, 100, 1440, 900, 1440, 900), { x: 100, y: 100 });
  assert.throws(() => viewToDesktop(1, 1, 0, 300, 800, 600), /unknown/);
});

test('fitScale stays within 0.1-1.0 and counts the pixel ratio', () => {
  assert.equal(fitScale(720, 1440), 0.5);
  assert.equal(fitScale(2000, 1440), 1);
  assert.equal(fitScale(50, 1440), 0.1);
  assert.equal(fitScale(720, 1440, 2), 1);
  assert.equal(fitScale(700, 1440), 0.48);
  assert.equal(fitScale(0, 1440), 1);
});

test('splitArgs: shell-like words or a JSON array; unterminated quotes are errors', () => {
  assert.deepEqual(splitArgs(''), []);
  assert.deepEqual(splitArgs('  -e  top '), ['-e', 'top']);
  assert.deepEqual(splitArgs(`-e sh -c 'cat > /tmp/a b'`), ['-e', 'sh', '-c', 'cat > /tmp/a b']);
  assert.deepEqual(splitArgs(`"a \\"q\\" b" c\\ d ''`), ['a "q" b', 'c d', '']);
  assert.deepEqual(splitArgs('["-e", "sh -c x"]'), ['-e', 'sh -c x']);
  assert.throws(() => splitArgs(`'abc`), /unterminated single quote/);
  assert.throws(() => splitArgs(`"abc`), /unterminated double quote/);
  assert.throws(() => splitArgs('[1, 2]'), /only strings/);
  assert.throws(() => splitArgs('[oops'), /not a JSON array/);
});

test('InputQueue batches quick typing into one request and keeps the order with other actions', async () => {
  const sent = [];
  let release;
  const gate = new Promise((r) => (release = r));
  const q = new InputQueue(async (kind, body) => {
    if (!sent.length) await gate; // the first request is slow: nothing may overtake it
    sent.push([kind, body]);
  }, { batchMs: 20 });
  q.action('click', { x: 1, y: 2 });
  for (const c of 'echo hi') q.text(c);
  q.action('press', { key: 'Return' });
  q.text('x');
  release();
  await new Promise((r) => setTimeout(r, 60));
  await q.idle();
  assert.deepEqual(sent, [
    ['click', { x: 1, y: 2 }],
    ['type', { text: 'echo hi' }],
    ['press', { key: 'Return' }],
    ['type', { text: 'x' }],
  ]);
});

test('InputQueue reports a failed request and goes on', async () => {
  const errors = [];
  const sent = [];
  const q = new InputQueue(async (kind, body) => {
    if (body.key === 'bad') throw new Error('nope');
    sent.push(body.key);
  }, { onError: (e) => errors.push(e.message) });
  q.action('press', { key: 'bad' });
  await q.action('press', { key: 'good' });
  assert.deepEqual(errors, ['nope']);
  assert.deepEqual(sent, ['good']);
});
