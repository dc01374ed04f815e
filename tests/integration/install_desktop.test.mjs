// `sandbox-agent install desktop` (src/cli/install_desktop.c): help texts, the --print-only
// plan for each package manager (exact output, our package lists), usage errors, package
// manager detection, the root/sudo rules, the confirmation prompt, and what it runs: nothing
// when every package is installed (this machine: tests/run.sh installs them first), else
// exactly the missing packages. The GStreamer packages of the WebRTC stream are in by default;
// --no-streaming leaves them out, as --no-fonts does the fonts. Package managers, package databases and sudo are fake
// scripts on PATH that record their arguments; nothing is installed for real.
//
// Every run gets a private HOME and an environment without SANDBOX_AGENT_* variables and
// without DEBIAN_FRONTEND (the tests check who sets it).
// SANDBOX_AGENT_INSTALL_AS_NONROOT=1 plays an unprivileged caller (the tests run as root).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN, OURS_ONLY, SANITIZED } from './lib/server.mjs';

const ERR_LINE = /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{0,8}[1-9])?Z level=error target=sandbox_agent message="sandbox-agent failed" error="server error: (.*)"\n$/;

const APT = ['xvfb', 'openbox', 'ffmpeg', 'dbus-x11', 'xdg-utils', 'libx11-6', 'libxext6', 'libxtst6',
  'libxfixes3', 'libpng16-16', 'libjpeg62-turbo', 'libwebp7'];
const DNF = ['xorg-x11-server-Xvfb', 'openbox', 'ffmpeg', 'dbus-x11', 'xdg-utils', 'libX11', 'libXext',
  'libXtst', 'libXfixes', 'libpng', 'libjpeg-turbo', 'libwebp'];
const APK = ['xvfb', 'openbox', 'ffmpeg', 'dbus', 'xdg-utils', 'libx11', 'libxext', 'libxtst', 'libxfixes',
  'libpng', 'libjpeg-turbo', 'libwebp'];
const APT_STREAM = ['gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-good', 'gstreamer1.0-plugins-bad',
  'gstreamer1.0-nice'];
const DNF_STREAM = ['gstreamer1-plugins-base', 'gstreamer1-plugins-good', 'gstreamer1-plugins-bad-free',
  'libnice-gstreamer1'];
const APK_STREAM = ['gst-plugins-base', 'gst-plugins-good', 'gst-plugins-bad', 'libnice-gstreamer'];
const APT_INSTALL = 'env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends';

const dirs = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A private HOME with a bin/ of fake programs ({name: shell body}) and a log they share. */
function sandbox(fakes = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-instdesk-'));
  dirs.push(home);
  const bin = path.join(home, 'bin');
  fs.mkdirSync(bin);
  const log = path.join(home, 'calls.log');
  for (const [name, body] of Object.entries(fakes)) {
    const p = path.join(bin, name);
    fs.writeFileSync(p, `#!/bin/sh\nLOG='${log}'\nDIR='${home}'\n${body}\n`);
    fs.chmodSync(p, 0o755);
  }
  return {
    home, bin, log,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  };
}

/** Records its name and arguments, then exits with the status in $DIR/<name>.status (0). */
const recorder = (name) => `echo "${name} $*" >> "$LOG"; [ -f "$DIR/${name}.status" ] && exit "$(cat "$DIR/${name}.status")"; exit 0`;
/** sudo: records, then runs the command (the tests run as root). */
const FAKE_SUDO = 'echo "sudo $*" >> "$LOG"; exec "$@"';
/** apt-get: records its arguments and the DEBIAN_FRONTEND it was given. */
const FAKE_APT = `echo "apt-get $* [DEBIAN_FRONTEND=$DEBIAN_FRONTEND]" >> "$LOG"; [ "$1" = install ] && [ -f "$DIR/apt-get.status" ] && exit "$(cat "$DIR/apt-get.status")"; exit 0`;
/** dpkg-query -W -f=${Status}\n PKG: installed when PKG is listed in $DIR/installed. */
const FAKE_DPKG_QUERY = `pkg="$3"; [ "$1" = -W ] && [ "$2" = '-f=\${Status}\n' ] || { echo "bad dpkg-query args: $*" >> "$LOG"; exit 2; }
grep -qx "$pkg" "$DIR/installed" 2>/dev/null || { echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; }
echo "install ok installed"`;
/** rpm -q --whatprovides PKG / apk info -e PKG: installed when listed in $DIR/installed. */
const FAKE_RPM = `[ "$1 $2" = "-q --whatprovides" ] || { echo "bad rpm args: $*" >> "$LOG"; exit 2; }; grep -qx "$3" "$DIR/installed" 2>/dev/null`;
const FAKE_APK = `if [ "$1 $2" = "info -e" ]; then grep -qx "$3" "$DIR/installed" 2>/dev/null; exit; fi; echo "apk $*" >> "$LOG"`;

function run(args, { env = {}, input = '', box } = {}) {
  const base = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SANDBOX_AGENT_') && k !== 'DEBIAN_FRONTEND') base[k] = v;
  const home = box ? box.home : fs.mkdtempSync(path.join(os.tmpdir(), 'sa-instdesk-'));
  if (!box) dirs.push(home);
  const r = spawnSync(BIN, args, { cwd: home, env: { ...base, HOME: home, ...env }, input, timeout: 60000 });
  if (r.error) throw r.error;
  const stderr = r.stderr.toString('utf8');
  if (SANITIZED) assert.doesNotMatch(stderr, /AddressSanitizer|runtime error:|LeakSanitizer/);
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr };
}

/** The message of a failure line (exit 1 unless said otherwise). */
function failure(r, status = 1) {
  assert.equal(r.status, status, r.stderr);
  const m = ERR_LINE.exec(r.stderr);
  assert.ok(m, `error line: ${JSON.stringify(r.stderr)}`);
  return m[1];
}

function plan(pm, pkgs, command) {
  return `Desktop package manager: ${pm}\nDesktop packages:\n${pkgs.map((p) => `  - ${p}\n`).join('')}Install command:\n  ${command}\n`;
}

const GROUP_HELP = `Install first-party runtime dependencies

Usage: sandbox-agent install [OPTIONS] <COMMAND>

Commands:
  desktop  Install desktop runtime dependencies
  help     Print this message or the help of the given subcommand(s)

Options:
  -t, --token <TOKEN>  
  -n, --no-token       
  -h, --help           Print help
`;

const DESKTOP_HELP = `Install desktop runtime dependencies

Usage: sandbox-agent install desktop [OPTIONS]

Options:
      --yes                                Install without asking for confirmation
      --print-only                         Print the packages and the command; install nothing
      --package-manager <PACKAGE_MANAGER>  [possible values: apt, dnf, apk]
                                           (default: the first of apt-get, dnf, apk on PATH)
      --no-fonts                           Leave out the DejaVu fonts package
      --no-streaming                       Leave out the GStreamer packages of the WebRTC stream
  -t, --token <TOKEN>                      Accepted like everywhere; unused (no server)
  -n, --no-token                           
  -h, --help                               Print help
`;

describe('install: help and usage errors', { skip: OURS_ONLY }, () => {
  test('install --help, install help, and install without a subcommand (stderr, 2)', () => {
    assert.deepEqual(run(['install', '--help']), { status: 0, stdout: GROUP_HELP, stderr: '' });
    assert.deepEqual(run(['install', 'help']), { status: 0, stdout: GROUP_HELP, stderr: '' });
    assert.deepEqual(run(['install']), { status: 2, stdout: '', stderr: GROUP_HELP });
  });

  test('install desktop --help, -h, install help desktop, help install desktop', () => {
    for (const args of [['install', 'desktop', '--help'], ['install', 'desktop', '-h'], ['install', 'help', 'desktop'],
      ['help', 'install', 'desktop']]) {
      assert.deepEqual(run(args), { status: 0, stdout: DESKTOP_HELP, stderr: '' }, args.join(' '));
    }
  });

  test('a bad --package-manager value, a missing one, an extra argument, an unknown subcommand', () => {
    let r = run(['install', 'desktop', '--print-only', '--package-manager', 'yum']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, "error: invalid value 'yum' for '--package-manager <PACKAGE_MANAGER>'\n" +
      "  [possible values: apt, dnf, apk]\n\nFor more information, try '--help'.\n");
    r = run(['install', 'desktop', '--package-manager']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, "error: a value is required for '--package-manager <PACKAGE_MANAGER>' but none was supplied\n" +
      "  [possible values: apt, dnf, apk]\n\nFor more information, try '--help'.\n");
    r = run(['install', 'desktop', 'now']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, "error: unexpected argument 'now' found\n\nUsage: sandbox-agent install desktop [OPTIONS]\n\n" +
      "For more information, try '--help'.\n");
    r = run(['install', 'laptop']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, "error: unrecognized subcommand 'laptop'\n\nUsage: sandbox-agent install [OPTIONS] <COMMAND>\n\n" +
      "For more information, try '--help'.\n");
  });
});

describe('install desktop --print-only: the plan, exactly', { skip: OURS_ONLY }, () => {
  const fonts = { apt: 'fonts-dejavu-core', dnf: 'dejavu-sans-fonts', apk: 'ttf-dejavu' };
  const lists = { apt: APT, dnf: DNF, apk: APK };
  const streams = { apt: APT_STREAM, dnf: DNF_STREAM, apk: APK_STREAM };
  const command = {
    apt: (pkgs, sudo = '') => `${sudo}apt-get update && ${sudo}${APT_INSTALL} ${pkgs.join(' ')}`,
    dnf: (pkgs, sudo = '') => `${sudo}dnf install -y ${pkgs.join(' ')}`,
    apk: (pkgs, sudo = '') => `${sudo}apk add --no-cache ${pkgs.join(' ')}`,
  };

  for (const pm of ['apt', 'dnf', 'apk']) {
    test(`${pm}, in full, with --no-fonts, --no-streaming and both; nothing runs`, () => {
      const box = sandbox({ 'apt-get': recorder('apt-get'), dnf: recorder('dnf'), apk: recorder('apk'),
        'dpkg-query': recorder('dpkg-query'), rpm: recorder('rpm') });
      const env = { PATH: `${box.bin}:/usr/bin:/bin` };
      const all = [...lists[pm], ...streams[pm], fonts[pm]];
      let r = run(['install', 'desktop', '--print-only', '--package-manager', pm], { env, box });
      assert.deepEqual(r, { status: 0, stdout: plan(pm, all, command[pm](all)), stderr: '' });
      const nofonts = [...lists[pm], ...streams[pm]];
      r = run(['install', 'desktop', '--print-only', '--no-fonts', '--package-manager', pm], { env, box });
      assert.deepEqual(r, { status: 0, stdout: plan(pm, nofonts, command[pm](nofonts)), stderr: '' });
      const nostream = [...lists[pm], fonts[pm]];
      r = run(['install', 'desktop', '--print-only', '--no-streaming', '--package-manager', pm], { env, box });
      assert.deepEqual(r, { status: 0, stdout: plan(pm, nostream, command[pm](nostream)), stderr: '' });
      r = run(['install', 'desktop', '--print-only', '--no-streaming', '--no-fonts', '--package-manager', pm], { env, box });
      assert.deepEqual(r, { status: 0, stdout: plan(pm, lists[pm], command[pm](lists[pm])), stderr: '' });
      // --yes changes nothing with --print-only; no query, no install.
      r = run(['install', 'desktop', '--print-only', '--yes', `--package-manager=${pm}`], { env, box });
      assert.equal(r.stdout, plan(pm, all, command[pm](all)));
      assert.deepEqual(box.calls(), []);
    });
  }

  test('not root: every command under sudo; without sudo, the reference error', () => {
    const box = sandbox({ sudo: recorder('sudo') });
    const env = { PATH: `${box.bin}:/usr/bin:/bin`, SANDBOX_AGENT_INSTALL_AS_NONROOT: '1' };
    const all = [...APT, ...APT_STREAM, 'fonts-dejavu-core'];
    let r = run(['install', 'desktop', '--print-only', '--package-manager', 'apt'], { env, box });
    assert.deepEqual(r, { status: 0, stdout: plan('apt', all, command.apt(all, 'sudo ')), stderr: '' });
    r = run(['install', 'desktop', '--print-only', '--package-manager', 'dnf', '--no-fonts', '--no-streaming'], { env, box });
    assert.equal(r.stdout, plan('dnf', DNF, command.dnf(DNF, 'sudo ')));
    assert.deepEqual(box.calls(), []);
    const nosudo = sandbox({});
    r = run(['install', 'desktop', '--print-only', '--package-manager', 'apt'],
      { env: { PATH: nosudo.bin, SANDBOX_AGENT_INSTALL_AS_NONROOT: '1' }, box: nosudo });
    assert.equal(failure(r), 'desktop installation requires root or sudo access; rerun as root or install dependencies manually');
    assert.equal(r.stdout, '');
  });

  test('detection: apt-get, then dnf, then apk on PATH; none is an error', () => {
    const only = (names) => {
      const box = sandbox(Object.fromEntries(names.map((n) => [n, recorder(n)])));
      return run(['install', 'desktop', '--print-only'], { env: { PATH: box.bin }, box });
    };
    assert.match(only(['apk']).stdout, /^Desktop package manager: apk\n/);
    assert.match(only(['dnf', 'apk']).stdout, /^Desktop package manager: dnf\n/);
    assert.match(only(['apt-get', 'dnf', 'apk']).stdout, /^Desktop package manager: apt\n/);
    const r = only([]);
    assert.equal(failure(r), 'could not detect a supported package manager. Automatic desktop dependency installation ' +
      'is supported on Debian/Ubuntu (apt), Fedora/RHEL (dnf), and Alpine (apk). Automatic installation is not ' +
      'supported on macOS, Windows, or Linux distributions without apt, dnf, or apk. Install the desktop ' +
      'dependencies manually on this distribution.');
    assert.equal(r.stdout, '');
  });
});

describe('install desktop: what it runs', { skip: OURS_ONLY }, () => {
  test('everything installed (this machine, real dpkg-query): says so, runs no apt-get, needs no sudo', () => {
    const box = sandbox({ 'apt-get': recorder('apt-get'), sudo: recorder('sudo') });
    const env = { PATH: `${box.bin}:/usr/bin:/bin` };
    const want = 'Desktop package manager: apt\nDesktop dependencies are already installed.\n';
    assert.deepEqual(run(['install', 'desktop', '--yes'], { env, box }), { status: 0, stdout: want, stderr: '' });
    // No prompt either: there is nothing to confirm.
    assert.deepEqual(run(['install', 'desktop'], { env, box }), { status: 0, stdout: want, stderr: '' });
    assert.deepEqual(run(['install', 'desktop', '--yes'], { env: { ...env, SANDBOX_AGENT_INSTALL_AS_NONROOT: '1' }, box }),
      { status: 0, stdout: want, stderr: '' });
    assert.deepEqual(box.calls(), []);
  });

  test('apt as root: update, then only the missing packages, with DEBIAN_FRONTEND set', () => {
    const box = sandbox({ 'apt-get': FAKE_APT, 'dpkg-query': FAKE_DPKG_QUERY, sudo: recorder('sudo') });
    const missing = ['xvfb', 'ffmpeg', 'gstreamer1.0-nice', 'fonts-dejavu-core'];
    fs.writeFileSync(path.join(box.home, 'installed'), [...APT, ...APT_STREAM].filter((p) => !missing.includes(p)).join('\n') + '\n');
    const r = run(['install', 'desktop', '--yes'], { env: { PATH: `${box.bin}:/usr/bin:/bin` }, box });
    assert.deepEqual(r, {
      status: 0,
      stdout: plan('apt', missing, `apt-get update && ${APT_INSTALL} ${missing.join(' ')}`) + 'Desktop dependencies installed.\n',
      stderr: '',
    });
    assert.deepEqual(box.calls(), [
      'apt-get update [DEBIAN_FRONTEND=]',
      `apt-get install -y --no-install-recommends ${missing.join(' ')} [DEBIAN_FRONTEND=noninteractive]`,
    ]);
  });

  test('apt as non-root: both commands through sudo', () => {
    const box = sandbox({ 'apt-get': FAKE_APT, 'dpkg-query': FAKE_DPKG_QUERY, sudo: FAKE_SUDO });
    fs.writeFileSync(path.join(box.home, 'installed'), [...APT.slice(1), ...APT_STREAM, 'fonts-dejavu-core'].join('\n') + '\n');
    const r = run(['install', 'desktop', '--yes'],
      { env: { PATH: `${box.bin}:/usr/bin:/bin`, SANDBOX_AGENT_INSTALL_AS_NONROOT: '1' }, box });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, plan('apt', ['xvfb'], `sudo apt-get update && sudo ${APT_INSTALL} xvfb`) +
      'Desktop dependencies installed.\n');
    assert.deepEqual(box.calls(), [
      'sudo apt-get update',
      'apt-get update [DEBIAN_FRONTEND=]',
      `sudo ${APT_INSTALL} xvfb`,
      'apt-get install -y --no-install-recommends xvfb [DEBIAN_FRONTEND=noninteractive]',
    ]);
  });

  test('the install fails: its exit status, the reference-style error line', () => {
    const box = sandbox({ 'apt-get': FAKE_APT, 'dpkg-query': FAKE_DPKG_QUERY });
    fs.writeFileSync(path.join(box.home, 'apt-get.status'), '7\n');
    const r = run(['install', 'desktop', '--yes', '--no-fonts'], { env: { PATH: `${box.bin}:/usr/bin:/bin` }, box });
    assert.equal(failure(r, 7), `command \`${APT_INSTALL} ${[...APT, ...APT_STREAM].join(' ')}\` exited with status 7`);
    assert.doesNotMatch(r.stdout, /installed\.\n$/);
    assert.equal(box.calls().length, 2);
  });

  test('without --yes: asks; no (or no answer) cancels before anything runs, y proceeds', () => {
    const box = sandbox({ 'apt-get': FAKE_APT, 'dpkg-query': FAKE_DPKG_QUERY });
    const env = { PATH: `${box.bin}:/usr/bin:/bin` };
    const all = [...APT, ...APT_STREAM, 'fonts-dejavu-core'];
    const shown = plan('apt', all, `apt-get update && ${APT_INSTALL} ${all.join(' ')}`) +
      'Proceed with desktop dependency installation? [y/N] ';
    for (const input of ['n\n', '', 'maybe\n']) {
      const r = run(['install', 'desktop'], { env, box, input });
      assert.equal(failure(r), 'installation cancelled');
      assert.equal(r.stdout, shown);
    }
    assert.deepEqual(box.calls(), []);
    const r = run(['install', 'desktop'], { env, box, input: 'y\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${shown}Desktop dependencies installed.\n`);
    assert.equal(box.calls().length, 2);
  });

  test('dnf: rpm -q --whatprovides decides what is missing; dnf install -y', () => {
    const box = sandbox({ dnf: recorder('dnf'), rpm: FAKE_RPM });
    fs.writeFileSync(path.join(box.home, 'installed'), [...DNF, ...DNF_STREAM].filter((p) => p !== 'openbox').join('\n') + '\n');
    const r = run(['install', 'desktop', '--yes', '--package-manager', 'dnf'], { env: { PATH: `${box.bin}:/usr/bin:/bin` }, box });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, plan('dnf', ['openbox', 'dejavu-sans-fonts'], 'dnf install -y openbox dejavu-sans-fonts') +
      'Desktop dependencies installed.\n');
    assert.deepEqual(box.calls(), ['dnf install -y openbox dejavu-sans-fonts']);
  });

  test('apk: apk info -e decides what is missing; apk add --no-cache; all there: nothing runs', () => {
    const box = sandbox({ apk: FAKE_APK });
    const env = { PATH: `${box.bin}:/usr/bin:/bin` };
    fs.writeFileSync(path.join(box.home, 'installed'), [...APK, ...APK_STREAM].join('\n') + '\n');
    let r = run(['install', 'desktop', '--yes', '--package-manager', 'apk'], { env, box });
    assert.equal(r.stdout, plan('apk', ['ttf-dejavu'], 'apk add --no-cache ttf-dejavu') + 'Desktop dependencies installed.\n');
    assert.deepEqual(box.calls(), ['apk add --no-cache ttf-dejavu']);
    r = run(['install', 'desktop', '--yes', '--no-fonts', '--package-manager', 'apk'], { env, box });
    assert.deepEqual(r, { status: 0, stdout: 'Desktop package manager: apk\nDesktop dependencies are already installed.\n', stderr: '' });
    assert.equal(box.calls().length, 1);
  });

  test('a package manager that is not there: the failure to run it', () => {
    const box = sandbox({});
    const r = run(['install', 'desktop', '--yes', '--no-fonts', '--package-manager', 'dnf'], { env: { PATH: box.bin }, box });
    assert.equal(failure(r), `failed to run \`dnf install -y ${[...DNF, ...DNF_STREAM].join(' ')}\`: No such file or directory`);
  });

  test('--no-streaming: missing streaming packages are left out; without it, exactly those install', () => {
    const box = sandbox({ 'apt-get': FAKE_APT, 'dpkg-query': FAKE_DPKG_QUERY });
    const env = { PATH: `${box.bin}:/usr/bin:/bin` };
    // The desktop is complete, none of the streaming packages is there.
    fs.writeFileSync(path.join(box.home, 'installed'), [...APT, 'fonts-dejavu-core'].join('\n') + '\n');
    let r = run(['install', 'desktop', '--yes', '--no-streaming'], { env, box });
    assert.deepEqual(r, { status: 0, stdout: 'Desktop package manager: apt\nDesktop dependencies are already installed.\n', stderr: '' });
    assert.deepEqual(box.calls(), []);
    r = run(['install', 'desktop', '--yes'], { env, box });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, plan('apt', APT_STREAM, `apt-get update && ${APT_INSTALL} ${APT_STREAM.join(' ')}`) +
      'Desktop dependencies installed.\n');
    assert.deepEqual(box.calls(), [
      'apt-get update [DEBIAN_FRONTEND=]',
      `apt-get install -y --no-install-recommends ${APT_STREAM.join(' ')} [DEBIAN_FRONTEND=noninteractive]`,
    ]);
  });

  test('dnf and apk: the streaming packages are queried like the others and skipped when installed', () => {
    const dnf = sandbox({ dnf: recorder('dnf'), rpm: FAKE_RPM });
    fs.writeFileSync(path.join(dnf.home, 'installed'), [...DNF, 'dejavu-sans-fonts', ...DNF_STREAM.slice(1)].join('\n') + '\n');
    let r = run(['install', 'desktop', '--yes', '--package-manager', 'dnf'], { env: { PATH: `${dnf.bin}:/usr/bin:/bin` }, box: dnf });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, plan('dnf', [DNF_STREAM[0]], `dnf install -y ${DNF_STREAM[0]}`) + 'Desktop dependencies installed.\n');
    r = run(['install', 'desktop', '--yes', '--no-streaming', '--package-manager', 'dnf'],
      { env: { PATH: `${dnf.bin}:/usr/bin:/bin` }, box: dnf });
    assert.deepEqual(r, { status: 0, stdout: 'Desktop package manager: dnf\nDesktop dependencies are already installed.\n', stderr: '' });
    assert.deepEqual(dnf.calls(), [`dnf install -y ${DNF_STREAM[0]}`]);

    const apk = sandbox({ apk: FAKE_APK });
    fs.writeFileSync(path.join(apk.home, 'installed'), [...APK, 'ttf-dejavu'].join('\n') + '\n');
    r = run(['install', 'desktop', '--yes', '--package-manager', 'apk'], { env: { PATH: `${apk.bin}:/usr/bin:/bin` }, box: apk });
    assert.equal(r.stdout, plan('apk', APK_STREAM, `apk add --no-cache ${APK_STREAM.join(' ')}`) + 'Desktop dependencies installed.\n');
    r = run(['install', 'desktop', '--yes', '--no-streaming', '--package-manager', 'apk'],
      { env: { PATH: `${apk.bin}:/usr/bin:/bin` }, box: apk });
    assert.deepEqual(r, { status: 0, stdout: 'Desktop package manager: apk\nDesktop dependencies are already installed.\n', stderr: '' });
    assert.deepEqual(apk.calls(), [`apk add --no-cache ${APK_STREAM.join(' ')}`]);
  });
});
