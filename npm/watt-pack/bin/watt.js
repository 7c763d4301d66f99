#!/usr/bin/env node
// The `watt` (and `watt-pack`) command of the npm package: finds the native binary that npm
// installed from the platform package (an optionalDependency npm picks by its `os`/`cpu`) and
// runs it. The binary finds watt-stub beside itself, so nothing else is passed along.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const self = require('../package.json');

// Keys are `${process.platform}-${process.arch}`. linux-x64 holds static binaries, so one
// package serves glibc and musl hosts alike (no `libc` field, no -musl variant).
const PLATFORMS = {
  'linux-x64': 'watt-pack-linux-x64',
};

function fail(message) {
  process.stderr.write(`watt-pack: ${message}\n`);
  process.exit(1);
}

function binaryPath() {
  const platform = `${process.platform}-${process.arch}`;
  const pkg = PLATFORMS[platform];
  if (!pkg) {
    fail(
      `no prebuilt binary for ${platform} (prebuilt: ${Object.keys(PLATFORMS).join(', ')}).\n` +
        'Build watt from source instead: in a clone of the watt-pack repository, with Rust ' +
        'installed, run\n' +
        '  cargo install --locked --path packer && cargo install --locked --path runtime-stub\n' +
        'which puts watt and watt-stub side by side in ~/.cargo/bin.',
    );
  }

  // Reinstalling is the fix for every way the platform package goes missing, so say how.
  const reinstall =
    `Install it with \`npm install ${pkg}@${self.version}\`, or reinstall without ` +
    'omitting optional dependencies (`rm -rf node_modules && npm install`, no ' +
    '--omit=optional / --no-optional).';
  let manifestPath;
  try {
    manifestPath = require.resolve(`${pkg}/package.json`);
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    fail(
      `the package ${pkg}, which holds the watt binary for ${platform}, is not installed.\n` +
        'npm leaves it out when optional dependencies are omitted (--omit=optional, ' +
        '--no-optional), when node_modules was installed for another platform (--os/--cpu) or ' +
        `copied from another machine.\n${reinstall}`,
    );
  }

  const dir = path.dirname(manifestPath);
  const installed = JSON.parse(fs.readFileSync(manifestPath, 'utf8')).version;
  if (installed !== self.version) {
    // The two are released together; another version's binary may not understand this
    // package's documented flags, so refuse rather than run it.
    fail(
      `${pkg}@${installed} is installed at ${dir}, but watt-pack@${self.version} needs ` +
        `${pkg}@${self.version}.\n${reinstall}`,
    );
  }

  const bin = path.join(dir, 'bin', 'watt');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch (e) {
    fail(
      `${bin} is ${e.code === 'ENOENT' ? 'missing' : 'not executable'} ` +
        `(${pkg}@${installed} is installed, but incompletely).\n${reinstall}`,
    );
  }
  return bin;
}

const bin = binaryPath();
// A terminal's Ctrl-C reaches the whole process group, so the child already has SIGINT then;
// a supervisor (CI runner, `timeout`, `kill`) signals only this process, hence the forwarding.
// Either way this process waits for the child and reports how it ended. The listeners go in
// before the spawn: a signal caught from then on is handled once the child exists, never by
// node's default of dying and leaving the child running.
const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
let child;
const forward = (signal) => {
  if (child && child.pid !== undefined) {
    try {
      child.kill(signal);
    } catch {
      // Already gone: its exit is on the way.
    }
  }
};
for (const signal of forwarded) process.on(signal, forward);

child = spawn(bin, process.argv.slice(2), { stdio: 'inherit' });

child.on('error', (e) => {
  fail(`could not run ${bin}: ${e.message}`);
});

child.on('exit', (code, signal) => {
  for (const s of forwarded) process.off(s, forward);
  if (signal) {
    // Die of the same signal, so the caller sees what the child saw; where the signal does not
    // end this process (node ignores SIGPIPE), the shell convention. SIGUSR1 would start node's
    // inspector instead, so it gets the convention straight away.
    if (signal !== 'SIGUSR1') process.kill(process.pid, signal);
    process.exit(128 + (os.constants.signals[signal] || 0));
  }
  process.exit(code === null ? 1 : code);
});
