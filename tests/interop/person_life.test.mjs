// One synthetic person's life through a development vault, step by step, as a
// product reviewer would walk it: collection from several sources, consent and
// its withdrawal, a cross-border transfer, support access, a subject report,
// rectification, blocking, a legal hold, a backup, erasure, a restore of the
// backup taken before the erasure — and at the end, whether the person's report
// tells the truth about every call made about them.
//
// Written against the public contract only (proto/sandyq/v1,
// deploy/dev/policy.textproto, `sandyqd --helpfull`). Each step is one test;
// they run in order and share the vault. Every value is synthetic.
//
//   SANDYQD=build/server/sandyqd tests/interop/run

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  OK, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION,
  scratchDir, startServer, stopServer, runOffline, connect, unary, serverStream,
} from './harness.mjs';

// --- the person ----------------------------------------------------------------------

const SUBJECT = 'shop:person-life-0001';
const NAME = 'Әлия Тестова';
const PHONE = '+77011112233';
const PHONE_NEW_INPUT = '8 (702) 555-44-33';
const PHONE_NEW = '+77025554433';
const EMAIL = 'person.test@example.kz';
const CARD = '4111111111111111';
const IIN = '850315300019';
const ADDRESS = 'г. Тестовый, ул. Жаңа, 7';  // offered while blocked; never stored

// What checkout collects, from where, and for what (tokenizer.proto: source, purpose).
const COLLECTED = {
  FIELD_TYPE_FULL_NAME: { value: NAME, source: 'checkout-form' },
  FIELD_TYPE_PHONE: { value: PHONE, source: 'mobile-app' },
  FIELD_TYPE_EMAIL: { value: EMAIL, source: 'newsletter-signup', purpose: 'marketing' },
  FIELD_TYPE_CARD_NUMBER: { value: CARD, source: 'payment-page' },
  FIELD_TYPE_IIN: { value: IIN, source: 'kyc-form' },
};

// Retention rules of the sample policy that apply to these fields: the
// collection purpose's rule wins over the type's (policy.proto RetentionRule).
const DAY_NS = 86400n * 1000000000n;
const RETENTION = {
  FIELD_TYPE_EMAIL: { period: 365n * DAY_NS, action: 'destroy' },            // purpose marketing
  FIELD_TYPE_CARD_NUMBER: { period: 1095n * DAY_NS, action: 'depersonalize' },
};

// Every form of the person's data that was ever sent; none may be found in the
// vault's files or backups after the erasure.
const PLAINTEXTS = [SUBJECT, NAME, PHONE, PHONE.slice(1), PHONE_NEW_INPUT, PHONE_NEW,
  PHONE_NEW.slice(1), EMAIL, CARD, IIN, ADDRESS];

// Organisation and country of each caller (deploy/dev/policy.textproto).
const WHERE = {
  checkout: ['shop', 'KZ'], support: ['shop', 'KZ'], marketing: ['shop', 'KZ'],
  analytics: ['shop', 'KZ'], 'partner-de': ['partner', 'DE'], legal: ['shop', 'KZ'],
  dpo: ['shop', 'KZ'], keyadmin: ['shop', 'KZ'], auditor: ['shop', 'KZ'],
  sandyqd: ['', ''],  // the server itself (e.g. an erasure re-applied by a restore)
};

const SERVICE = { tokenizer: 'Tokenizer', subjects: 'Subjects', audit: 'Audit', admin: 'Admin' };
const DECISION_OF_CODE = {
  [INVALID_ARGUMENT]: 'DECISION_INVALID', [NOT_FOUND]: 'DECISION_NOT_FOUND',
  [PERMISSION_DENIED]: 'DECISION_DENIED', [FAILED_PRECONDITION]: 'DECISION_DENIED',
};

const nanos = (ts) => BigInt(ts.seconds) * 1000000000n + BigInt(ts.nanos);

// Every file under `dir`, recursively, as [path, bytes].
function* filesUnder(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(p);
    else if (entry.isFile()) yield [p, fs.readFileSync(p)];
  }
}

function plaintextHits(dirs, values) {
  const needles = values.map((v) => [v, Buffer.from(v, 'utf8')]);
  const hits = [];
  let files = 0;
  for (const dir of dirs) {
    for (const [p, bytes] of filesUnder(dir)) {
      files++;
      for (const [v, needle] of needles) if (bytes.includes(needle)) hits.push(`${JSON.stringify(v)} in ${p}`);
    }
  }
  return { files, hits };
}

describe('one person\'s life through the vault', { concurrency: false }, () => {
  const root = scratchDir('sandyq-life-');
  const dataDir = path.join(root, 'vault');
  const backupTarget = path.join(dataDir, 'backups');  // the dev config's backup target (KZ)
  const offsite = path.join(root, 'offsite-copy');      // a byte copy of the backup, made before the erasure
  const t0 = Date.now();
  let server;
  let c;
  const tokens = {};      // field type -> token
  const typeOf = {};      // token -> field type
  let subjectHash;
  let backup;             // BackupResponse
  let holdId;

  // The calls this test made about the person, in order: what the report's
  // `accesses` must list. `optional` ones may be listed but need not be (calls
  // with a token of the person after the erasure; the server's own re-applied
  // erasure). `group` sorts the required ones: 'core' (named by subject id or
  // token), 'lookup' (a Lookup whose answer was one of the person's tokens),
  // 'probe' (a refused request for the person's report).
  const made = [];

  // Makes one call as `id`, checks its status code, and writes it down.
  // about: 'yes' (it concerns the person), 'optional', or 'no'.
  async function call(id, service, method, request, { code = OK, about = 'yes', group = 'core' } = {}) {
    const client = c[id][service];
    let response, err;
    try {
      response = await unary(client, method, request);
    } catch (e) { err = e; }
    const what = `${id} ${SERVICE[service]}.${method} ${JSON.stringify({ ...request, value: undefined })}`;
    if (code === OK) assert.ok(!err, `${what}: want OK, got ${err?.code} (${err?.details})`);
    else {
      assert.ok(err, `${what}: want code ${code}, got OK ${JSON.stringify(response)}`);
      assert.equal(err.code, code, `${what}: want code ${code}, got ${err.code} (${err.details})`);
    }
    if (about !== 'no') {
      const rpc = `${SERVICE[service]}.${method}`;
      let decision = err ? DECISION_OF_CODE[err.code] : 'DECISION_ALLOWED';
      if (!err && method === 'Detokenize') decision = response.masked ? 'DECISION_REVEALED_MASKED' : 'DECISION_REVEALED_FULL';
      const purpose = (service === 'tokenizer' || method === 'RecordConsent') ? (request.purpose ?? '') : '';
      let token = request.token ?? (method === 'Tokenize' && !err ? response.token : undefined);
      if (method === 'Tokenize' && err) token = '';
      made.push({ identity: id, rpc, purpose, decision, token, optional: about === 'optional', group, what });
    }
    return err ?? response;
  }

  const detokenize = (id, token, purpose, opts = {}, justification = '') =>
    call(id, 'tokenizer', 'Detokenize', { token, purpose, justification }, opts);
  const report = (opts) => call('dpo', 'subjects', 'Report', { subject_id: SUBJECT }, opts);
  const consent = (purpose, granted, cross_border = false) => call('dpo', 'subjects', 'RecordConsent',
    { subject_id: SUBJECT, purpose, granted, cross_border, policy_version: 'privacy-2026-01', channel: 'web-form' });

  // The report lists every call in `made` of the given groups (rpc, identity,
  // organisation, country, purpose, decision, token), oldest first, and
  // nothing that was not made.
  function assertAccessesTellTheTruth(accesses, label, groups = ['core']) {
    const used = new Array(accesses.length).fill(false);
    const matches = (a, e) => a.rpc === e.rpc && a.identity === e.identity && a.purpose === e.purpose
      && a.decision === e.decision && (e.token === undefined || a.token === e.token);
    const missing = [];
    let last = -1, outOfOrder = [];
    for (const e of made) {
      const i = accesses.findIndex((a, k) => !used[k] && matches(a, e));
      if (i < 0) {
        if (!e.optional && groups.includes(e.group)) missing.push(`${e.rpc} by ${e.identity}, purpose "${e.purpose}", ${e.decision} (call: ${e.what})`);
        continue;
      }
      used[i] = true;
      if (i < last) outOfOrder.push(`${e.rpc} by ${e.identity}`);
      last = Math.max(last, i);
      const a = accesses[i];
      assert.deepEqual([a.organisation, a.country], WHERE[a.identity], `${label}: where of ${e.what}`);
      if (a.token && typeOf[a.token] && a.rpc !== 'Tokenizer.Lookup') {
        assert.equal(a.field_type, typeOf[a.token], `${label}: field type of ${e.what}`);
      }
    }
    const extra = accesses.filter((_, k) => !used[k])
      .map((a) => `${a.rpc} by ${a.identity}, purpose "${a.purpose}", ${a.decision}, token "${a.token}"`);
    assert.ok(missing.length === 0 && extra.length === 0,
      `${label}: the report's accesses do not match the calls made about the person\n` +
      `  made but not listed (${missing.length}):\n    ${missing.join('\n    ')}\n` +
      `  listed but never made (${extra.length}):\n    ${extra.join('\n    ')}`);
    assert.deepEqual(outOfOrder, [], `${label}: accesses not oldest first`);
    for (let i = 1; i < accesses.length; i++) {
      assert.ok(nanos(accesses[i].time) >= nanos(accesses[i - 1].time), `${label}: access ${i} older than ${i - 1}`);
    }
  }

  const restart = async () => {
    c.close();
    const { code, signal } = await stopServer(server.child);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `sandyqd exit after SIGTERM\n${server.child.log()}`);
    server = await startServer(dataDir);
    c = connect(dataDir, server.port);
  };

  // Offline restore of `from` with the server stopped; then the same --dev start.
  const restoreFrom = async (from) => {
    c.close();
    const stopped = await stopServer(server.child);
    assert.deepEqual(stopped, { code: 0, signal: null }, `sandyqd exit after SIGTERM\n${server.child.log()}`);
    const r = await runOffline(['--config', path.join(dataDir, 'sandyqd.textproto'), '--restore_backup', from]);
    assert.deepEqual([r.code, r.signal], [0, null], `--restore_backup ${from}:\n${r.stdout}${r.stderr}`);
    server = await startServer(dataDir);
    c = connect(dataDir, server.port);
    return r;
  };

  before(async () => {
    server = await startServer(dataDir);
    c = connect(dataDir, server.port);
  });

  after(async () => {
    c?.close();
    if (server) {
      const { code, signal } = await stopServer(server.child);
      if (code !== 0) process.stderr.write(`sandyqd exit code ${code}, signal ${signal}\n${server.child.log()}`);
    }
    if (process.env.SANDYQ_INTEROP_KEEP) process.stderr.write(`vault kept in ${root}\n`);
  });

  test('1. collection: checkout tokenizes each value with its source', async () => {
    for (const [type, { value, source, purpose }] of Object.entries(COLLECTED)) {
      const r = await call('checkout', 'tokenizer', 'Tokenize',
        { subject_id: SUBJECT, type, value, source, ...(purpose ? { purpose } : {}) });
      tokens[type] = r.token;
      typeOf[r.token] = type;
    }
    assert.equal(new Set(Object.values(tokens)).size, 5, 'five fields, five tokens');
    assert.match(tokens.FIELD_TYPE_CARD_NUMBER, /^411111\d{6}1111$/);
    for (const [type, { value }] of Object.entries(COLLECTED)) {
      const r = await detokenize('dpo', tokens[type], 'subject_access_request');
      assert.deepEqual([r.value, r.type, r.masked], [value, type, false], `stored ${type}`);
    }
  });

  test('2. marketing: refused without consent, served with it, refused at once after withdrawal', async () => {
    const email = tokens.FIELD_TYPE_EMAIL;
    await detokenize('marketing', email, 'marketing', { code: FAILED_PRECONDITION });
    await consent('marketing', true);
    const r = await detokenize('marketing', email, 'marketing');
    assert.deepEqual([r.value, r.masked], [EMAIL, false]);
    await consent('marketing', false);
    await detokenize('marketing', email, 'marketing', { code: FAILED_PRECONDITION });
  });

  test('3. cross-border: partner-de (DE) served only after cross-border consent; the log says DE', async () => {
    const name = tokens.FIELD_TYPE_FULL_NAME;
    await detokenize('partner-de', name, 'order_fulfilment', { code: FAILED_PRECONDITION });
    await consent('order_fulfilment', true, true);
    const r = await detokenize('partner-de', name, 'order_fulfilment');
    assert.deepEqual([r.value, r.masked], [NAME, false]);

    const events = await serverStream(c.auditor.audit, 'Query', { subject_id: SUBJECT });
    made.push({ identity: 'auditor', rpc: 'Audit.Query', purpose: '', decision: 'DECISION_ALLOWED',
      group: 'core', what: 'auditor Audit.Query by subject' });
    const abroad = events.filter((e) => e.identity === 'partner-de' && e.rpc === 'Tokenizer.Detokenize');
    assert.deepEqual(abroad.map((e) => [e.decision, e.code]),
      [['DECISION_DENIED', FAILED_PRECONDITION], ['DECISION_REVEALED_FULL', OK]]);
    for (const e of abroad) {
      assert.deepEqual([e.country, e.organisation, e.purpose, e.token, e.field_type],
        ['DE', 'partner', 'order_fulfilment', name, 'FIELD_TYPE_FULL_NAME'], `event ${e.seq}`);
    }
    subjectHash = events[0].subject_hash;
    assert.match(subjectHash, /^[0-9a-f]{64}$/);
    assert.ok(events.every((e) => e.subject_hash === subjectHash), 'one person, one subject hash');
  });

  test('4. support: masked phone, full name', async () => {
    const phone = await detokenize('support', tokens.FIELD_TYPE_PHONE, 'customer_support');
    assert.deepEqual([phone.value, phone.masked], ['+7 701 *** ** 33', true]);
    const name = await detokenize('support', tokens.FIELD_TYPE_FULL_NAME, 'customer_support');
    assert.deepEqual([name.value, name.masked], [NAME, false]);
  });

  test('5. Subjects.Report: fields with sources and retention, consent history, every access', async () => {
    const r = await report();
    assert.equal(r.subject_hash, subjectHash, 'same hash as the access log');
    assert.equal(r.residency_country, 'KZ');
    assert.deepEqual([r.blocked, r.block_reason, r.holds], [false, '', []]);

    assert.equal(r.fields.length, 5);
    for (const f of r.fields) {
      const type = typeOf[f.token];
      assert.ok(type, `unknown token ${f.token} in the report`);
      const want = COLLECTED[type];
      assert.equal(f.type, type);
      assert.equal(f.source, want.source, `source of ${type}`);
      assert.equal(f.collection_purpose, want.purpose ?? '', `collection purpose of ${type}`);
      assert.equal(f.depersonalized, false);
      const created = nanos(f.created_at);
      assert.ok(created >= BigInt(t0 - 5000) * 1000000n && created <= BigInt(Date.now() + 5000) * 1000000n,
        `created_at of ${type} is now`);
      assert.equal(nanos(f.updated_at), created, `updated_at of ${type}`);
      const rule = RETENTION[type];
      if (rule) {
        assert.ok(f.retention_deadline, `${type} has a retention deadline`);
        assert.equal(nanos(f.retention_deadline), created + rule.period, `retention deadline of ${type}`);
        assert.equal(f.retention_action, rule.action, `retention action of ${type}`);
      } else {
        assert.equal(f.retention_deadline, null, `${type}: no retention rule applies`);
        assert.equal(f.retention_action, '');
      }
    }

    assert.deepEqual(r.consents.map((k) => [k.purpose, k.granted, k.cross_border, k.policy_version, k.channel]), [
      ['marketing', true, false, 'privacy-2026-01', 'web-form'],
      ['marketing', false, false, 'privacy-2026-01', 'web-form'],
      ['order_fulfilment', true, true, 'privacy-2026-01', 'web-form'],
    ], 'consent history, oldest first');

    assertAccessesTellTheTruth(r.accesses, 'report after step 5');
  });

  test('5b. support (no subject_admin) is refused the report, and that attempt is in it', async () => {
    await call('support', 'subjects', 'Report', { subject_id: SUBJECT }, { code: PERMISSION_DENIED, group: 'probe' });
    assertAccessesTellTheTruth((await report()).accesses, 'report after step 5b', ['core', 'probe']);
  });

  test('6. rectification: same token, new value, the old value is no longer found', async () => {
    const token = tokens.FIELD_TYPE_PHONE;
    const lookup = (value, about) => call('support', 'tokenizer', 'Lookup',
      { type: 'FIELD_TYPE_PHONE', value, purpose: 'customer_support' }, { about, group: 'lookup' });
    const before = await lookup(PHONE, 'yes');  // finds the person: an access to their data
    assert.deepEqual(before.tokens, [token]);
    const created = nanos((await report()).fields.find((f) => f.token === token).created_at);

    await call('dpo', 'subjects', 'Rectify', { token, value: PHONE_NEW_INPUT, reason: 'customer changed number' });
    const r = await detokenize('dpo', token, 'subject_access_request');
    assert.deepEqual([r.value, r.type], [PHONE_NEW, 'FIELD_TYPE_PHONE'], 'new value behind the same token');
    assert.deepEqual((await lookup(PHONE, 'no')).tokens, [], 'old value not found');
    assert.deepEqual((await lookup(PHONE_NEW, 'yes')).tokens, [token], 'new value found');

    const field = (await report()).fields.find((f) => f.token === token);
    assert.ok(field, 'the phone keeps its token in the report');
    assert.equal(nanos(field.created_at), created, 'created_at kept');
    assert.ok(nanos(field.updated_at) > created, 'updated_at moves');
    assert.equal(field.source, COLLECTED.FIELD_TYPE_PHONE.source);
  });

  test('7. Block: support refused, legal with a justification served, no new data; Unblock', async () => {
    await call('dpo', 'subjects', 'Block', { subject_id: SUBJECT, reason: 'accuracy disputed by the person' });
    const r = await report();
    assert.deepEqual([r.blocked, r.block_reason], [true, 'accuracy disputed by the person']);

    await detokenize('support', tokens.FIELD_TYPE_FULL_NAME, 'customer_support', { code: FAILED_PRECONDITION });
    const legal = await detokenize('legal', tokens.FIELD_TYPE_FULL_NAME, 'legal_request', {}, 'court order LIFE-1');
    assert.deepEqual([legal.value, legal.masked], [NAME, false]);
    await call('checkout', 'tokenizer', 'Tokenize',
      { subject_id: SUBJECT, type: 'FIELD_TYPE_ADDRESS', value: ADDRESS, source: 'checkout-form' },
      { code: FAILED_PRECONDITION });

    await call('dpo', 'subjects', 'Unblock', { subject_id: SUBJECT, reason: 'dispute resolved' });
    const after = await report();
    assert.deepEqual([after.blocked, after.block_reason], [false, '']);
    const name = await detokenize('support', tokens.FIELD_TYPE_FULL_NAME, 'customer_support');
    assert.equal(name.value, NAME);
    assert.equal(after.fields.length, 5, 'nothing was added while blocked');
  });

  test('8. SetHold: Erase refused while it exists', async () => {
    ({ hold_id: holdId } = await call('dpo', 'subjects', 'SetHold', { subject_id: SUBJECT, reason: 'tax audit 2026' }));
    assert.ok(holdId, 'hold id');
    await call('dpo', 'subjects', 'Erase', { subject_id: SUBJECT, reason: 'erasure request' }, { code: FAILED_PRECONDITION });
    const r = await report();
    assert.deepEqual(r.holds.map((h) => [h.hold_id, h.reason]), [[holdId, 'tax audit 2026']]);
    assert.equal(r.fields.length, 5, 'nothing erased');
    const name = await detokenize('dpo', tokens.FIELD_TYPE_FULL_NAME, 'subject_access_request');
    assert.equal(name.value, NAME);
  });

  test('9. Admin.Backup as keyadmin into the backup target', async () => {
    fs.mkdirSync(backupTarget, { recursive: true });
    backup = await call('keyadmin', 'admin', 'Backup', { dir: backupTarget }, { about: 'no' });
    assert.ok(backup.path.startsWith(backupTarget + path.sep), `backup at ${backup.path}`);
    assert.ok(fs.statSync(backup.path).isDirectory());
    assert.ok(BigInt(backup.audit_seq) > 0n);
    const created = nanos(backup.created_at);
    assert.ok(created <= BigInt(Date.now() + 5000) * 1000000n && created >= BigInt(t0 - 5000) * 1000000n);
    // What an operator does with a backup: copies it somewhere else.
    fs.cpSync(backup.path, offsite, { recursive: true });
  });

  test('10. ReleaseHold', async () => {
    await call('dpo', 'subjects', 'ReleaseHold', { subject_id: SUBJECT, reason: 'audit closed', hold_id: holdId });
    assert.deepEqual((await report()).holds, []);
  });

  test('11. Erase: a receipt, and every token of the person is NOT_FOUND', async () => {
    const e = await call('dpo', 'subjects', 'Erase', { subject_id: SUBJECT, reason: 'erasure request' });
    assert.match(e.receipt_id, /\S/, 'receipt id');
    assert.ok(e.erased_at && nanos(e.erased_at) > 0n, 'erased_at');
    assert.equal(e.tokens_erased, 5);
    for (const [type, token] of Object.entries(tokens)) {
      await detokenize('dpo', token, 'subject_access_request', { code: NOT_FOUND, about: 'optional' });
      if (type === 'FIELD_TYPE_FULL_NAME') {
        await detokenize('support', token, 'customer_support', { code: NOT_FOUND, about: 'optional' });
        await detokenize('partner-de', token, 'order_fulfilment', { code: NOT_FOUND, about: 'optional' });
        await detokenize('legal', token, 'legal_request', { code: NOT_FOUND, about: 'optional' }, 'court order LIFE-2');
      }
    }
    const r = await report();
    assert.deepEqual([r.fields, r.consents, r.holds, r.blocked], [[], [], [], false]);
  });

  const assertGone = async (label) => {
    for (const token of Object.values(tokens)) {
      await detokenize('dpo', token, 'subject_access_request', { code: NOT_FOUND, about: 'optional' });
    }
    for (const [type, value] of [['FIELD_TYPE_FULL_NAME', NAME], ['FIELD_TYPE_PHONE', PHONE_NEW],
      ['FIELD_TYPE_PHONE', PHONE], ['FIELD_TYPE_EMAIL', EMAIL], ['FIELD_TYPE_CARD_NUMBER', CARD],
      ['FIELD_TYPE_IIN', IIN]]) {
      const { tokens: found } = await call('dpo', 'tokenizer', 'Lookup',
        { type, value, purpose: 'subject_access_request' }, { about: 'no' });
      assert.deepEqual(found, [], `${label}: Lookup ${type}`);
    }
    const r = await report();
    assert.deepEqual([r.fields, r.consents], [[], []], `${label}: report`);
    return r;
  };

  test('12. after the erasure no file of the vault or its backups holds the person\'s values', async () => {
    // The scan sees what is there: the policy file names its purposes.
    assert.ok(plaintextHits([dataDir], ['order_fulfilment']).hits.length > 0, 'scanner positive control');
    await restart();  // let the server close its files
    const { files, hits } = plaintextHits([dataDir, offsite], PLAINTEXTS);
    assert.ok(files > 10, `scanned ${files} files`);
    assert.deepEqual(hits, []);
    await assertGone('after restart');
  });

  test('13. restore of the backup taken before the erasure: the person is still gone', async () => {
    await restoreFrom(backup.path);
    await assertGone('after restoring the backup');
    // The byte copy made before the erasure (the vault never touched it).
    await restoreFrom(offsite);
    // Re-applying the erasure from the ledger is the server's own act on the person.
    made.push({ identity: 'sandyqd', rpc: 'Subjects.Erase', purpose: '', decision: 'DECISION_ALLOWED',
      optional: true, what: 'erasure re-applied by the restore' });
    await assertGone('after restoring the off-site copy');
    const { hits } = plaintextHits([dataDir, offsite], PLAINTEXTS);
    assert.deepEqual(hits, []);
  });

  test('14. Audit.Verify is ok', async () => {
    const r = await call('auditor', 'audit', 'Verify', {}, { about: 'no' });
    assert.equal(r.ok, true, `verify: ${r.reason} at ${r.first_bad_seq}`);
    assert.equal(r.first_bad_seq, '0');
    assert.ok(BigInt(r.events_checked) >= BigInt(made.length));
  });

  let finalReport;
  test('15. the final report lists every call made with the person\'s id or tokens', async () => {
    finalReport = await report();
    assert.equal(finalReport.subject_hash, subjectHash);
    assertAccessesTellTheTruth(finalReport.accesses, 'final report');
  });

  test('16. the final report lists the Lookups that found the person and the refused report request', async () => {
    assert.ok(finalReport, 'step 15 got the report');
    assertAccessesTellTheTruth(finalReport.accesses, 'final report', ['lookup', 'probe']);
  });
});
