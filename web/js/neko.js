// neko.js - a WebRTC viewer for the desktop stream (GET /v1/desktop/stream/signaling), speaking
// the neko protocol the server implements (docs/desktop.md, Streaming), as the SDK's
// DesktopStreamSession does: system/init → signal/request → signal/provide (our offer) →
// signal/answer, candidates both ways, and input on the data channel "data" in neko's
// binary format. The keysym mapping is pure and exported for tests.

const OP = { MOVE: 1, SCROLL: 2, KEYDOWN: 3, KEYUP: 4, BTNDOWN: 5, BTNUP: 6 };

// KeyboardEvent.key names to X keysyms (the ones a browser reports that are not characters).
const NAMED = {
  Backspace: 0xff08, Tab: 0xff09, Enter: 0xff0d, Escape: 0xff1b, Delete: 0xffff,
  Home: 0xff50, ArrowLeft: 0xff51, ArrowUp: 0xff52, ArrowRight: 0xff53, ArrowDown: 0xff54,
  PageUp: 0xff55, PageDown: 0xff56, End: 0xff57, Insert: 0xff63, Pause: 0xff13,
  ScrollLock: 0xff14, NumLock: 0xff7f, CapsLock: 0xffe5, ContextMenu: 0xff67,
  Shift: 0xffe1, Control: 0xffe3, Alt: 0xffe9, AltGraph: 0xfe03, Meta: 0xffeb, OS: 0xffeb,
};
for (let i = 1; i <= 12; i++) NAMED[`F${i}`] = 0xffbd + i;
// Right-hand modifiers, told apart by KeyboardEvent.code.
const RIGHT = { ShiftRight: 0xffe2, ControlRight: 0xffe4, AltRight: 0xffea, MetaRight: 0xffec };

/** The X keysym for a KeyboardEvent's key (and code), or 0 when there is none. */
export function keysymOf(key, code = '') {
  if (RIGHT[code]) return RIGHT[code];
  if (NAMED[key]) return NAMED[key];
  const cps = [...(key || '')];
  if (cps.length !== 1) return 0;
  const cp = cps[0].codePointAt(0);
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  // Latin-1 keysyms are the code points; everything else is a Unicode keysym.
  return cp < 0x100 ? cp : 0x1000000 + cp;
}

/** One neko input message. */
export function nekoMessage(op, ...fields) {
  const sizes = { [OP.MOVE]: [2, 2], [OP.SCROLL]: [2, 2, 1], [OP.KEYDOWN]: [4], [OP.KEYUP]: [4], [OP.BTNDOWN]: [4], [OP.BTNUP]: [4] }[op];
  const len = sizes.reduce((a, b) => a + b, 0);
  const buf = new ArrayBuffer(3 + len);
  const v = new DataView(buf);
  v.setUint8(0, op);
  v.setUint16(1, len);
  let at = 3;
  sizes.forEach((n, i) => {
    const x = fields[i] | 0;
    if (n === 1) v.setUint8(at, x);
    else if (n === 2) (op === OP.SCROLL ? v.setInt16(at, x) : v.setUint16(at, Math.max(0, Math.min(65535, x))));
    else v.setUint32(at, x >>> 0);
    at += n;
  });
  return buf;
}

export const NEKO = OP;

/**
 * A viewer. events: { onTrack(stream), onReady({width,height}), onState(text), onClose(message) }.
 * close() ends it. Input is dropped silently while the data channel is not open.
 */
export class NekoViewer {
  constructor(wsUrl, events = {}) {
    this.events = events;
    this.pc = null;
    this.dc = null;
    this.pending = [];
    this.closed = false;
    this.size = null;
    this.ws = new WebSocket(wsUrl);
    this.ws.onmessage = (e) => this.#onMessage(e.data);
    this.ws.onclose = (e) => this.#end(this.lastMessage || (e.reason || 'the stream connection closed'));
    this.ws.onerror = () => { this.lastMessage = this.lastMessage || 'the stream connection failed'; };
  }

  #send(event, payload) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ event, payload }));
  }

  async #onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    const p = msg.payload ?? msg.data ?? {};
    switch (msg.event) {
      case 'system/init':
        if (p.screen_size) {
          this.size = { width: Number(p.screen_size.width), height: Number(p.screen_size.height) };
          this.events.onReady?.(this.size);
        }
        this.#send('signal/request', { video: {}, audio: {} });
        break;
      case 'signal/provide':
      case 'signal/offer':
        if (p.sdp) await this.#offer(p);
        break;
      case 'signal/candidate':
        if (this.pc && this.pc.remoteDescription) await this.pc.addIceCandidate(p).catch(() => {});
        else this.pending.push(p);
        break;
      case 'signal/close':
        this.#teardownPeer();
        break;
      case 'system/disconnect':
        this.lastMessage = p.message || 'the server ended the stream';
        this.ws.close();
        break;
      default:
        break;
    }
  }

  async #offer(p) {
    this.#teardownPeer();
    const iceServers = (p.iceservers || p.ice || []).filter((s) => s && s.urls);
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    pc.ontrack = (e) => this.events.onTrack?.(e.streams[0] || new MediaStream([e.track]));
    pc.onicecandidate = (e) => { if (e.candidate) this.#send('signal/candidate', e.candidate.toJSON()); };
    pc.onconnectionstatechange = () => {
      this.events.onState?.(pc.connectionState);
      if (pc.connectionState === 'failed') this.#end('the WebRTC connection failed');
    };
    pc.ondatachannel = (e) => {
      this.dc = e.channel;
      this.dc.binaryType = 'arraybuffer';
    };
    await pc.setRemoteDescription({ type: 'offer', sdp: p.sdp });
    for (const c of this.pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.#send('signal/answer', { sdp: answer.sdp });
  }

  #teardownPeer() {
    if (this.pc) this.pc.close();
    this.pc = null;
    this.dc = null;
  }

  #end(message) {
    if (this.closed) return;
    this.closed = true;
    this.#teardownPeer();
    if (this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    this.events.onClose?.(message);
  }

  #input(buf) {
    if (this.dc && this.dc.readyState === 'open') this.dc.send(buf);
  }

  move(x, y) { this.#input(nekoMessage(OP.MOVE, x, y)); }
  button(button, down) { this.#input(nekoMessage(down ? OP.BTNDOWN : OP.BTNUP, button)); }
  scroll(dx, dy) { this.#input(nekoMessage(OP.SCROLL, dx, dy, 0)); }
  key(keysym, down) { if (keysym) this.#input(nekoMessage(down ? OP.KEYDOWN : OP.KEYUP, keysym)); }
  /** True once input can flow. */
  get ready() { return !!this.dc && this.dc.readyState === 'open'; }

  close() {
    this.lastMessage = 'closed';
    this.#end('closed');
  }
}
