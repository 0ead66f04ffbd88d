// Shared plumbing of the Node.js interop tests (*.test.mjs): loads the public
// protos, starts and stops a real development sandyqd, runs the offline
// restore, and opens one mTLS client per sample identity. Nothing here knows
// the server's internals; it uses only what proto/sandyq/v1 and `sandyqd
// --help` publish.
//
// Environment:
//   SANDYQD                     path of the sandyqd binary (required)
//   SANDYQ_PROTO_DIR            import root of the protos (default: ../../proto)
//   SANDYQ_INTEROP_NODE_MODULES directory whose node_modules holds the deps
//                               (default: next to this file)
//   SANDYQ_INTEROP_KEEP         keep the vault directories after the run

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(
  process.env.SANDYQ_INTEROP_NODE_MODULES
    ? path.join(path.resolve(process.env.SANDYQ_INTEROP_NODE_MODULES), 'package.json')
    : import.meta.url);
export const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

export const SANDYQD = process.env.SANDYQD ? path.resolve(process.env.SANDYQD) : undefined;
const PROTO_DIR = path.resolve(process.env.SANDYQ_PROTO_DIR ?? path.join(here, '..', '..', 'proto'));
export const CALL_DEADLINE_MS = 15000;

export const OK = 0, INVALID_ARGUMENT = 3, NOT_FOUND = 5, ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7, FAILED_PRECONDITION = 9;

// --- protos --------------------------------------------------------------------------

const packageDefinition = protoLoader.loadSync(
  ['sandyq/v1/tokenizer.proto', 'sandyq/v1/audit.proto', 'sandyq/v1/field_type.proto',
    'sandyq/v1/subjects.proto', 'sandyq/v1/admin.proto', 'sandyq/v1/keyadmin.proto'],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
export const v1 = grpc.loadPackageDefinition(packageDefinition).sandyq.v1;

// --- processes and scratch directories ---------------------------------------------

const live = new Set();     // sandyqd children still running
const scratch = new Set();  // directories to remove at exit
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
  if (!process.env.SANDYQ_INTEROP_KEEP) {
    for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    for (const p of live) p.kill('SIGKILL');
    process.exit(128 + os.constants.signals[sig]);
  });
}

// A fresh directory under the system temp dir, removed when the process exits
// (unless SANDYQ_INTEROP_KEEP is set).
export function scratchDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.add(dir);
  return dir;
}

function track(child) {
  live.add(child);
  const log = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => log.push(d));
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
  });
  child.log = () => log.join('');
  return child;
}

// Starts sandyqd --dev on a free port and resolves once it prints its serving
// line; rejects if it exits first.
export function startServer(dataDir) {
  assert.ok(SANDYQD, 'set SANDYQD to the sandyqd binary');
  const child = track(spawn(SANDYQD, ['--dev', '--data_dir', dataDir, '--listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    const onData = (d) => {
      out += d;
      const m = /sandyqd: serving on (\S+):(\d+)\s*\n/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();  // keep draining
        resolve({ child, port: Number(m[2]) });
      }
    };
    child.stdout.on('data', onData);
    child.on('error', reject);
    child.exited.then(({ code, signal }) => reject(new Error(
      `sandyqd exited (code ${code}, signal ${signal}) before serving:\n${out}${child.log()}`)));
  });
}

// SIGTERM, then wait for the exit event; SIGKILL if it does not come.
export async function stopServer(child, graceMs = 30000) {
  if (!live.has(child)) return child.exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try { return await child.exited; } finally { clearTimeout(timer); }
}

// Runs an offline sandyqd command (e.g. --restore_backup) to its exit;
// SIGKILL after `limitMs`. Resolves { code, signal, stdout, stderr }.
// sandyqd refuses root outside --dev; CI containers run the tests as root.
export async function runOffline(args, limitMs = 60000) {
  assert.ok(SANDYQD, 'set SANDYQD to the sandyqd binary');
  const asRoot = process.getuid() === 0 && !args.includes('--dev');
  const child = track(spawn(SANDYQD, asRoot ? [...args, '--allow_root'] : args,
    { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => { stdout += d; });
  const spawnError = new Promise((_, reject) => child.on('error', reject));
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  try {
    const { code, signal } = await Promise.race([child.exited, spawnError]);
    return { code, signal, stdout, stderr: child.log() };
  } finally { clearTimeout(timer); }
}

// --- clients -----------------------------------------------------------------------

export const IDENTITIES = ['checkout', 'support', 'marketing', 'analytics', 'partner-de',
  'legal', 'dpo', 'keyadmin', 'auditor'];

// One channel per identity; every service shares it.
export function connect(dataDir, port) {
  const pki = path.join(dataDir, 'pki');
  const ca = fs.readFileSync(path.join(pki, 'ca.crt'));
  const clients = {};
  for (const id of IDENTITIES) {
    const creds = grpc.credentials.createSsl(ca,
      fs.readFileSync(path.join(pki, `${id}.key`)), fs.readFileSync(path.join(pki, `${id}.crt`)));
    const address = `127.0.0.1:${port}`;
    const tokenizer = new v1.Tokenizer(address, creds);
    const shared = { channelOverride: tokenizer.getChannel() };
    clients[id] = {
      tokenizer,
      audit: new v1.Audit(address, creds, shared),
      subjects: new v1.Subjects(address, creds, shared),
      admin: new v1.Admin(address, creds, shared),
      keyAdmin: new v1.KeyAdmin(address, creds, shared),
    };
  }
  clients.close = () => { for (const id of IDENTITIES) clients[id].tokenizer.close(); };
  return clients;
}

export function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + CALL_DEADLINE_MS },
      (err, response) => (err ? reject(err) : resolve(response)));
  });
}

export function serverStream(client, method, request) {
  return new Promise((resolve, reject) => {
    const items = [];
    const call = client[method](request, { deadline: Date.now() + CALL_DEADLINE_MS });
    call.on('data', (m) => items.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(items));
  });
}

// Awaits a call that must fail with `code`; returns the error.
export async function expectCode(promise, code, what) {
  let response;
  try {
    response = await promise;
  } catch (err) {
    assert.equal(err.code, code, `${what}: want code ${code}, got ${err.code} (${err.details})`);
    return err;
  }
  assert.fail(`${what}: want code ${code}, got OK ${JSON.stringify(response)}`);
}
