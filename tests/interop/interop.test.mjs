// An independent client for sandyqd, written against the public contract only
// (proto/sandyq/v1, deploy/dev/policy.textproto) with Node's gRPC
// stack (@grpc/grpc-js + @grpc/proto-loader). It starts a real development
// vault, talks to it over mTLS as each sample identity, and finally tampers
// with the stored access log to see Audit.Verify notice.
//
//   SANDYQD=build/server/sandyqd node --test tests/interop/interop.test.mjs
//
// Environment: see harness.mjs, and
//   SANDYQ_LDB                  RocksDB ldb tool (default: ldb on PATH)
//
// Every value below is synthetic.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  grpc, v1, OK, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION,
  IDENTITIES, scratchDir, startServer, stopServer, connect, unary, serverStream, expectCode,
} from './harness.mjs';

const LDB = process.env.SANDYQ_LDB || 'ldb';

// No 4-character run of `value` (case-insensitive) appears in `text`.
function assertNoRun(text, value, what) {
  const t = String(text).toLowerCase();
  const v = value.toLowerCase();
  for (let i = 0; i + 4 <= v.length; i++) {
    const run = v.slice(i, i + 4);
    assert.ok(!t.includes(run), `${what}: message repeats part of the input ("${run}")`);
  }
}

function assertErrorHidesValue(err, value, what) {
  assertNoRun(err.details ?? '', value, `${what} (details)`);
  assertNoRun(err.message ?? '', value, `${what} (message)`);
  assertNoRun(JSON.stringify(err.metadata?.getMap?.() ?? {}), value, `${what} (metadata)`);
}

function luhnValid(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}

// --- synthetic values --------------------------------------------------------------

const NAME_NFC = 'Йосиф Тестов';
const NAME_NFD = NAME_NFC.normalize('NFD');
assert.notEqual(NAME_NFD, NAME_NFC);

// [label, type, input, normalized]
const VALID = [
  ['name in NFD with extra spaces', 'FIELD_TYPE_FULL_NAME', `  ${NAME_NFD.replace(' ', '   ')} `, NAME_NFC],
  ['IIN, 20th century', 'FIELD_TYPE_IIN', '850315300019', '850315300019'],
  ['IIN, 21st century', 'FIELD_TYPE_IIN', '061211600012', '061211600012'],
  ['KZ passport, lower case with spaces', 'FIELD_TYPE_PASSPORT', 'n 1234 5678', 'N12345678'],
  ['phone, national form with brackets', 'FIELD_TYPE_PHONE', '8 (701) 234-56-78', '+77012345678'],
  ['phone, +7 with spaces', 'FIELD_TYPE_PHONE', '+7 701 234 5678', '+77012345678'],
  ['phone, national digits', 'FIELD_TYPE_PHONE', '87012345678', '+77012345678'],
  ['card number', 'FIELD_TYPE_CARD_NUMBER', '4111111111111111', '4111111111111111'],
  ['card expiry MM/YY', 'FIELD_TYPE_CARD_EXPIRY', '07/29', '2029-07'],
  ['card expiry MM/YYYY', 'FIELD_TYPE_CARD_EXPIRY', '07/2029', '2029-07'],
  ['e-mail with upper-case domain', 'FIELD_TYPE_EMAIL', 'Test.User@Example.KZ', 'Test.User@example.kz'],
  ['date of birth', 'FIELD_TYPE_DATE_OF_BIRTH', '1985-03-15', '1985-03-15'],
  ['address', 'FIELD_TYPE_ADDRESS', 'г. Тестовый, ул. Примерная, 1', 'г. Тестовый, ул. Примерная, 1'],
];

// [label, type, input]
const INVALID = [
  ['IIN with a wrong check digit', 'FIELD_TYPE_IIN', '850315300018'],
  ['IIN with 11 digits', 'FIELD_TYPE_IIN', '85031530001'],
  ['card failing Luhn', 'FIELD_TYPE_CARD_NUMBER', '4111111111111112'],
  ['phone too short', 'FIELD_TYPE_PHONE', '+7 701 234'],
  ['e-mail without domain', 'FIELD_TYPE_EMAIL', 'qx7@@zz'],
  ['date of birth in the future', 'FIELD_TYPE_DATE_OF_BIRTH', '2999-02-28'],
  ['expiry month 13', 'FIELD_TYPE_CARD_EXPIRY', '13/29'],
  ['name with digits', 'FIELD_TYPE_FULL_NAME', 'Qwx9 Zyx'],
  ['passport with symbols', 'FIELD_TYPE_PASSPORT', 'AB#12!34%'],
  ['address over 500 characters', 'FIELD_TYPE_ADDRESS', 'Ъ'.repeat(501)],
];

// One value per type for the policy matrix: [type, input, full, masked].
const MATRIX = {
  FIELD_TYPE_FULL_NAME: [NAME_NFC, NAME_NFC],
  FIELD_TYPE_IIN: ['850315300019', '850315300019', '85********19'],
  FIELD_TYPE_PASSPORT: ['N12345678', 'N12345678'],
  FIELD_TYPE_PHONE: ['+7 701 234 5678', '+77012345678', '+7 701 *** ** 78'],
  FIELD_TYPE_CARD_NUMBER: ['4111111111111111', '4111111111111111', '411111******1111'],
  FIELD_TYPE_CARD_EXPIRY: ['07/29', '2029-07'],
  FIELD_TYPE_EMAIL: ['Test.User@Example.KZ', 'Test.User@example.kz', 'T***@example.kz'],
  FIELD_TYPE_DATE_OF_BIRTH: ['1985-03-15', '1985-03-15'],
  FIELD_TYPE_ADDRESS: ['г. Тестовый, ул. Примерная, 1', 'г. Тестовый, ул. Примерная, 1'],
};
const TYPES = Object.keys(MATRIX);
const PURPOSES = ['payment_processing', 'order_fulfilment', 'customer_support', 'marketing',
  'legal_request', 'subject_access_request'];

// The sample policy (deploy/dev/policy.textproto): identity -> purpose -> type -> 'full'|'masked'.
// Everything absent is denied.
const ALL_FULL = Object.fromEntries(TYPES.map((t) => [t, 'full']));
const GRANTS = {
  checkout: {
    payment_processing: { FIELD_TYPE_CARD_NUMBER: 'full', FIELD_TYPE_CARD_EXPIRY: 'full' },
    order_fulfilment: { FIELD_TYPE_FULL_NAME: 'full', FIELD_TYPE_PHONE: 'full', FIELD_TYPE_ADDRESS: 'full' },
  },
  support: {
    customer_support: {
      FIELD_TYPE_FULL_NAME: 'full', FIELD_TYPE_PHONE: 'masked', FIELD_TYPE_IIN: 'masked',
      FIELD_TYPE_CARD_NUMBER: 'masked', FIELD_TYPE_EMAIL: 'masked',
    },
  },
  legal: { legal_request: ALL_FULL },
  dpo: { subject_access_request: ALL_FULL },
};
// Grants that the policy conditions on the person (deploy/dev/policy.textproto,
// tokenizer.proto Detokenize): marketing is consent-based; partner-de is in DE
// and order_fulfilment may go abroad only with the person's cross-border
// consent for it. With no consent on record (SUBJECT_MAIN never gets one)
// they are refused with FAILED_PRECONDITION.
const CONDITIONAL = {
  marketing: { marketing: ['FIELD_TYPE_PHONE', 'FIELD_TYPE_EMAIL'] },        // consent-based purpose
  'partner-de': { order_fulfilment: ['FIELD_TYPE_FULL_NAME', 'FIELD_TYPE_EMAIL'] },  // DE caller, KZ vault
};
const TOKENIZERS = new Set(['checkout', 'analytics']);
const AUDITORS = new Set(['auditor']);

const SUBJECT_MAIN = 'interop:subject-main';
const SUBJECT_OTHER = 'interop:subject-other';
const SUBJECT_BATCH = 'interop:subject-batch';
const SUBJECT_ANALYTICS = 'interop:subject-analytics';
// One subject per conditional grant, so each consent test starts with none.
const consentSubject = (id, type) => `interop:consent-${id}-${type}`;

// Every plaintext the run sends; none may appear in the access log.
const PLAINTEXTS = new Set([SUBJECT_MAIN, SUBJECT_OTHER, SUBJECT_BATCH, SUBJECT_ANALYTICS]);
for (const [id, byPurpose] of Object.entries(CONDITIONAL)) {
  for (const types of Object.values(byPurpose)) for (const t of types) PLAINTEXTS.add(consentSubject(id, t));
}
for (const [, , input, norm] of VALID) { PLAINTEXTS.add(input.trim()); PLAINTEXTS.add(norm); }
for (const [, , input] of INVALID) PLAINTEXTS.add(input);
for (const [input, full] of Object.values(MATRIX)) { PLAINTEXTS.add(input); PLAINTEXTS.add(full); }
PLAINTEXTS.add(NAME_NFD);
PLAINTEXTS.add('7012345678');
PLAINTEXTS.add('Test.User');

const tokenRe = /^[A-Za-z0-9_-]+$/;
// Well-formed ("sq_" + 24 base64url characters, like every issued token)
// but never issued.
const UNKNOWN_TOKEN = 'sq_AAAAAAAAAAAAAAAAAAAAAAAA';
function assertOpaqueToken(token, what) {
  assert.match(token, tokenRe, `${what}: token is not URL-safe`);
  // >= 128 random bits: at least 22 base64url characters.
  assert.ok(token.length >= 22, `${what}: token is too short to hold 128 bits`);
}

// --- the run -------------------------------------------------------------------------

describe('sandyqd through @grpc/grpc-js', { concurrency: false }, () => {
  const dataRoot = scratchDir('sandyq-interop-');
  const dataDir = path.join(dataRoot, 'vault');
  let server;   // { child, port }
  let c;        // clients per identity
  const matrixTokens = {};  // type -> token of SUBJECT_MAIN
  let cardToken;

  const restart = async () => {
    c.close();
    const { code, signal } = await stopServer(server.child);
    assert.equal(signal, null, 'sandyqd should exit on SIGTERM by itself');
    assert.equal(code, 0, `sandyqd exit code after SIGTERM\n${server.child.log()}`);
    server = await startServer(dataDir);
    c = connect(dataDir, server.port);
  };

  before(async () => {
    server = await startServer(dataDir);
    c = connect(dataDir, server.port);
    for (const [type, [input]] of Object.entries(MATRIX)) {
      const r = await unary(c.checkout.tokenizer, 'Tokenize',
        { subject_id: SUBJECT_MAIN, type, value: input, source: 'interop-test' });
      matrixTokens[type] = r.token;
    }
  });

  after(async () => {
    c?.close();
    if (server) {
      const { code, signal } = await stopServer(server.child);
      if (code !== 0) process.stderr.write(`sandyqd exit code ${code}, signal ${signal}\n${server.child.log()}`);
    }
    if (process.env.SANDYQ_INTEROP_KEEP) process.stderr.write(`vault kept in ${dataRoot}\n`);
  });

  describe('valid values round-trip in normalized form', () => {
    for (const [label, type, input, normalized] of VALID) {
      test(label, async () => {
        const { token } = await unary(c.checkout.tokenizer, 'Tokenize',
          { subject_id: SUBJECT_MAIN, type, value: input, source: 'interop-test' });
        if (type === 'FIELD_TYPE_CARD_NUMBER') {
          assert.match(token, /^\d+$/, 'card token is digits only');
          assert.equal(token.length, input.length, 'card token keeps the length');
          assert.equal(token.slice(0, 6), input.slice(0, 6), 'card token keeps the first 6');
          assert.equal(token.slice(-4), input.slice(-4), 'card token keeps the last 4');
          assert.notEqual(token, input);
          assert.ok(!luhnValid(token), 'card token must be Luhn-invalid');
        } else {
          assertOpaqueToken(token, label);
          assertNoRun(token, normalized, `${label}: token`);
        }
        const r = await unary(c.dpo.tokenizer, 'Detokenize',
          { token, purpose: 'subject_access_request' });
        assert.equal(r.value, normalized);
        assert.equal(r.type, type);
        assert.equal(r.masked, false);
      });
    }

    test('the three phone forms give one token (same normalized value)', async () => {
      const forms = VALID.filter(([, t]) => t === 'FIELD_TYPE_PHONE').map(([, , input]) => input);
      const tokens = [];
      for (const value of forms) {
        tokens.push((await unary(c.checkout.tokenizer, 'Tokenize',
          { subject_id: SUBJECT_MAIN, type: 'FIELD_TYPE_PHONE', value })).token);
      }
      assert.equal(new Set(tokens).size, 1, 'tokenizing is idempotent over normalization');
      assert.equal(tokens[0], matrixTokens.FIELD_TYPE_PHONE);
    });

    test('another subject gets another token for the same value', async () => {
      const a = matrixTokens.FIELD_TYPE_IIN;
      const b = (await unary(c.checkout.tokenizer, 'Tokenize',
        { subject_id: SUBJECT_OTHER, type: 'FIELD_TYPE_IIN', value: MATRIX.FIELD_TYPE_IIN[0] })).token;
      assert.notEqual(a, b);
    });

    test('card tokens are unique per subject', async () => {
      cardToken = matrixTokens.FIELD_TYPE_CARD_NUMBER;
      const other = (await unary(c.checkout.tokenizer, 'Tokenize',
        { subject_id: SUBJECT_OTHER, type: 'FIELD_TYPE_CARD_NUMBER', value: '4111111111111111' })).token;
      assert.notEqual(other, cardToken);
      assert.ok(!luhnValid(other));
    });
  });

  describe('invalid values are refused without echoing them', () => {
    for (const [label, type, input] of INVALID) {
      test(label, async () => {
        const err = await expectCode(unary(c.checkout.tokenizer, 'Tokenize',
          { subject_id: SUBJECT_MAIN, type, value: input }), INVALID_ARGUMENT, label);
        assert.ok((err.details ?? '').length > 0, 'the message should name the rule');
        assertErrorHidesValue(err, input, label);
      });
    }

    test('unspecified field type', async () => {
      await expectCode(unary(c.checkout.tokenizer, 'Tokenize',
        { subject_id: SUBJECT_MAIN, type: 'FIELD_TYPE_UNSPECIFIED', value: '850315300019' }),
      INVALID_ARGUMENT, 'unspecified type');
    });

    test('empty subject id', async () => {
      await expectCode(unary(c.checkout.tokenizer, 'Tokenize',
        { subject_id: '', type: 'FIELD_TYPE_IIN', value: '850315300019' }),
      INVALID_ARGUMENT, 'empty subject');
    });

    test('lookup of an invalid value', async () => {
      const err = await expectCode(unary(c.dpo.tokenizer, 'Lookup',
        { type: 'FIELD_TYPE_IIN', value: '850315300018', purpose: 'subject_access_request' }),
      INVALID_ARGUMENT, 'lookup invalid');
      assertErrorHidesValue(err, '850315300018', 'lookup invalid');
    });
  });

  describe('each identity gets what the sample policy grants', () => {
    for (const id of IDENTITIES) {
      test(`Detokenize as ${id}, every purpose and type`, async () => {
        for (const purpose of PURPOSES) {
          for (const type of TYPES) {
            const grant = GRANTS[id]?.[purpose]?.[type];
            const [, full, masked] = MATRIX[type];
            const req = { token: matrixTokens[type], purpose };
            if (purpose === 'legal_request') req.justification = 'court order INTEROP-1';
            const what = `${id}/${purpose}/${type}`;
            if (CONDITIONAL[id]?.[purpose]?.includes(type)) {
              // Granted, but SUBJECT_MAIN has no (cross-border) consent on record.
              const err = await expectCode(unary(c[id].tokenizer, 'Detokenize', req),
                FAILED_PRECONDITION, `${what} without consent`);
              assertNoRun(err.details ?? '', full, what);
              continue;
            }
            if (!grant) {
              const err = await expectCode(unary(c[id].tokenizer, 'Detokenize', req), PERMISSION_DENIED, what);
              assertNoRun(err.details ?? '', full, what);
              continue;
            }
            const r = await unary(c[id].tokenizer, 'Detokenize', req);
            assert.equal(r.type, type, what);
            if (grant === 'full') {
              assert.equal(r.value, full, what);
              assert.equal(r.masked, false, what);
            } else {
              assert.equal(r.masked, true, what);
              if (masked) assert.equal(r.value, masked, what);
              assert.notEqual(r.value, full, what);
            }
          }
        }
      });
    }

    // A data protection officer records the person's consent (Subjects.RecordConsent)
    // the way the product does; it takes effect for the very next call.
    const recordConsent = (subject_id, purpose, granted, cross_border = false) =>
      unary(c.dpo.subjects, 'RecordConsent',
        { subject_id, purpose, granted, cross_border, policy_version: 'interop-1', channel: 'web-form' });

    for (const type of CONDITIONAL.marketing.marketing) {
      test(`marketing/marketing/${type}: refused without consent, served with it, refused after withdrawal`, async () => {
        const [input, full] = MATRIX[type];
        const subject = consentSubject('marketing', type);
        const { token } = await unary(c.checkout.tokenizer, 'Tokenize',
          { subject_id: subject, type, value: input, source: 'interop-test' });
        const req = { token, purpose: 'marketing' };
        const err = await expectCode(unary(c.marketing.tokenizer, 'Detokenize', req),
          FAILED_PRECONDITION, 'marketing without consent');
        assertErrorHidesValue(err, full, 'marketing without consent');

        await recordConsent(subject, 'marketing', true);
        const r = await unary(c.marketing.tokenizer, 'Detokenize', req);
        assert.deepEqual([r.value, r.type, r.masked], [full, type, false], 'served with consent');
        // The consent is this person's only.
        await expectCode(unary(c.marketing.tokenizer, 'Detokenize', { token: matrixTokens[type], purpose: 'marketing' }),
          FAILED_PRECONDITION, 'another subject without consent');

        await recordConsent(subject, 'marketing', false);
        await expectCode(unary(c.marketing.tokenizer, 'Detokenize', req),
          FAILED_PRECONDITION, 'marketing right after withdrawal');
      });
    }

    for (const type of CONDITIONAL['partner-de'].order_fulfilment) {
      test(`partner-de/order_fulfilment/${type}: caller abroad refused without cross-border consent, served with it`, async () => {
        const [input, full] = MATRIX[type];
        const subject = consentSubject('partner-de', type);
        const { token } = await unary(c.checkout.tokenizer, 'Tokenize',
          { subject_id: subject, type, value: input, source: 'interop-test' });
        const req = { token, purpose: 'order_fulfilment' };
        const partner = c['partner-de'].tokenizer;
        const err = await expectCode(unary(partner, 'Detokenize', req),
          FAILED_PRECONDITION, 'partner-de without consent');
        assertErrorHidesValue(err, full, 'partner-de without consent');

        // A consent to the purpose that does not cover transfer abroad is not enough.
        await recordConsent(subject, 'order_fulfilment', true, false);
        await expectCode(unary(partner, 'Detokenize', req),
          FAILED_PRECONDITION, 'partner-de with a domestic-only consent');

        await recordConsent(subject, 'order_fulfilment', true, true);
        const r = await unary(partner, 'Detokenize', req);
        assert.deepEqual([r.value, r.type, r.masked], [full, type, false], 'served with cross-border consent');
        // Still nothing for a purpose that does not go abroad.
        await expectCode(unary(partner, 'Detokenize', { token, purpose: 'customer_support' }),
          PERMISSION_DENIED, 'partner-de for customer_support');
      });
    }

    test('legal without a justification: FAILED_PRECONDITION', async () => {
      for (const type of TYPES) {
        await expectCode(unary(c.legal.tokenizer, 'Detokenize',
          { token: matrixTokens[type], purpose: 'legal_request' }), FAILED_PRECONDITION, `legal/${type}`);
      }
    });

    test('an unregistered purpose reveals nothing', async () => {
      let err;
      try {
        await unary(c.dpo.tokenizer, 'Detokenize', { token: matrixTokens.FIELD_TYPE_IIN, purpose: 'curiosity' });
      } catch (e) { err = e; }
      assert.ok(err, 'detokenize for an unregistered purpose must fail');
      assert.ok([INVALID_ARGUMENT, PERMISSION_DENIED].includes(err.code), `got ${err.code} (${err.details})`);
    });

    test('an unknown token: NOT_FOUND', async () => {
      await expectCode(unary(c.dpo.tokenizer, 'Detokenize',
        { token: UNKNOWN_TOKEN, purpose: 'subject_access_request' }),
      NOT_FOUND, 'unknown token');
      await expectCode(unary(c.dpo.tokenizer, 'Detokenize',
        { token: '4111110000001111', purpose: 'subject_access_request' }),
      NOT_FOUND, 'unknown card-format token');
    });

    test('a malformed token is refused', async () => {
      for (const token of ['', 'not a token', 'sq_', 'sq_AAAA']) {
        let err;
        try {
          await unary(c.dpo.tokenizer, 'Detokenize', { token, purpose: 'subject_access_request' });
        } catch (e) { err = e; }
        assert.ok(err && [INVALID_ARGUMENT, NOT_FOUND].includes(err.code),
          `malformed token: got ${err?.code} (${err?.details})`);
      }
    });

    test('a caller without a client certificate is refused', async () => {
      const ca = fs.readFileSync(path.join(dataDir, 'pki', 'ca.crt'));
      const anon = new v1.Tokenizer(`127.0.0.1:${server.port}`, grpc.credentials.createSsl(ca));
      try {
        let err;
        try {
          await unary(anon, 'Detokenize', { token: matrixTokens.FIELD_TYPE_IIN, purpose: 'subject_access_request' });
        } catch (e) { err = e; }
        assert.ok(err, 'a call without a client certificate must fail');
        assert.ok([14, 16].includes(err.code), `got ${err.code} (${err.details})`);  // UNAVAILABLE / UNAUTHENTICATED
      } finally {
        anon.close();
      }
    });

    test('only checkout and analytics may tokenize', async () => {
      for (const id of IDENTITIES) {
        for (const type of TYPES) {
          const p = unary(c[id].tokenizer, 'Tokenize',
            { subject_id: SUBJECT_ANALYTICS, type, value: MATRIX[type][0] });
          if (TOKENIZERS.has(id)) {
            const { token } = await p;
            assert.ok(token.length > 0, `${id}/${type}`);
          } else {
            await expectCode(p, PERMISSION_DENIED, `${id} tokenize ${type}`);
          }
        }
      }
    });

    test('analytics tokens are the same vault tokens, but analytics sees nothing', async () => {
      const { token } = await unary(c.analytics.tokenizer, 'Tokenize',
        { subject_id: SUBJECT_ANALYTICS, type: 'FIELD_TYPE_IIN', value: '061211600012' });
      const r = await unary(c.dpo.tokenizer, 'Detokenize', { token, purpose: 'subject_access_request' });
      assert.equal(r.value, '061211600012');
      for (const purpose of PURPOSES) {
        await expectCode(unary(c.analytics.tokenizer, 'Detokenize', { token, purpose }),
          PERMISSION_DENIED, `analytics/${purpose}`);
      }
    });

    test('only the auditor may call Audit.Verify and Audit.Query', async () => {
      for (const id of IDENTITIES) {
        if (AUDITORS.has(id)) continue;
        await expectCode(unary(c[id].audit, 'Verify', {}), PERMISSION_DENIED, `${id} Verify`);
        await expectCode(serverStream(c[id].audit, 'Query', {}), PERMISSION_DENIED, `${id} Query`);
      }
    });
  });

  describe('batches answer per item', () => {
    test('TokenizeBatch', async () => {
      const items = [
        { subject_id: SUBJECT_BATCH, type: 'FIELD_TYPE_IIN', value: '850315300019' },
        { subject_id: SUBJECT_BATCH, type: 'FIELD_TYPE_IIN', value: '850315300018' },
        { subject_id: SUBJECT_BATCH, type: 'FIELD_TYPE_PHONE', value: '8 (701) 234-56-78' },
        { subject_id: SUBJECT_BATCH, type: 'FIELD_TYPE_CARD_NUMBER', value: '4111111111111112' },
        { subject_id: SUBJECT_BATCH, type: 'FIELD_TYPE_CARD_NUMBER', value: '4111111111111111' },
      ];
      const { results } = await unary(c.checkout.tokenizer, 'TokenizeBatch', { items });
      assert.equal(results.length, items.length);
      const ok = [0, 2, 4], bad = [1, 3];
      for (const i of ok) {
        assert.equal(results[i].result, 'token', `item ${i}`);
        assert.ok(results[i].token.length > 0);
      }
      for (const i of bad) {
        assert.equal(results[i].result, 'error', `item ${i}`);
        assert.equal(results[i].error.code, INVALID_ARGUMENT, `item ${i}`);
        assertNoRun(results[i].error.message, items[i].value, `batch item ${i}`);
      }
      // Same values as unary calls for the same subject give the same tokens.
      const single = await unary(c.checkout.tokenizer, 'Tokenize', items[2]);
      assert.equal(results[2].token, single.token);
      const card = results[4].token;
      assert.equal(card.length, 16);
      assert.ok(!luhnValid(card));

      // A caller that may not tokenize gets a per-item or whole-call denial.
      try {
        const denied = await unary(c.support.tokenizer, 'TokenizeBatch', { items: [items[0]] });
        assert.equal(denied.results[0].result, 'error');
        assert.equal(denied.results[0].error.code, PERMISSION_DENIED);
      } catch (err) {
        assert.equal(err.code, PERMISSION_DENIED);
      }
    });

    test('DetokenizeBatch', async () => {
      const items = [
        { token: matrixTokens.FIELD_TYPE_FULL_NAME, purpose: 'customer_support' },
        { token: matrixTokens.FIELD_TYPE_PHONE, purpose: 'customer_support' },
        { token: matrixTokens.FIELD_TYPE_PASSPORT, purpose: 'customer_support' },
        { token: UNKNOWN_TOKEN, purpose: 'customer_support' },
        { token: matrixTokens.FIELD_TYPE_CARD_NUMBER, purpose: 'customer_support' },
        { token: matrixTokens.FIELD_TYPE_IIN, purpose: 'marketing' },
      ];
      const { results } = await unary(c.support.tokenizer, 'DetokenizeBatch', { items });
      assert.equal(results.length, items.length);
      const err = (r) => (r.error ? r.error.code : OK);
      assert.deepEqual(results.map(err), [OK, OK, PERMISSION_DENIED, NOT_FOUND, OK, PERMISSION_DENIED]);
      assert.deepEqual(results.map((r) => r.masked), [false, true, false, false, true, false]);
      assert.equal(results[0].value, NAME_NFC);
      assert.equal(results[1].value, MATRIX.FIELD_TYPE_PHONE[2]);
      assert.equal(results[4].value, MATRIX.FIELD_TYPE_CARD_NUMBER[2]);
      for (const i of [2, 3, 5]) {
        assert.equal(results[i].value, '', `failed item ${i} carries no value`);
        assert.equal(results[i].type, 'FIELD_TYPE_UNSPECIFIED', `failed item ${i} carries no type`);
      }

      // legal: one item with a justification, one without.
      const legal = await unary(c.legal.tokenizer, 'DetokenizeBatch', { items: [
        { token: matrixTokens.FIELD_TYPE_IIN, purpose: 'legal_request', justification: 'court order INTEROP-2' },
        { token: matrixTokens.FIELD_TYPE_IIN, purpose: 'legal_request' },
      ] });
      assert.equal(legal.results[0].value, '850315300019');
      assert.equal(legal.results[1].error?.code, FAILED_PRECONDITION);
      assert.equal(legal.results[1].value, '');
    });
  });

  describe('Lookup', () => {
    test('support finds a subject by a phone in another form', async () => {
      const { tokens } = await unary(c.support.tokenizer, 'Lookup',
        { type: 'FIELD_TYPE_PHONE', value: '87012345678', purpose: 'customer_support' });
      assert.ok(tokens.includes(matrixTokens.FIELD_TYPE_PHONE), 'phone token found');
      const batchPhone = await unary(c.checkout.tokenizer, 'Tokenize',
        { subject_id: SUBJECT_BATCH, type: 'FIELD_TYPE_PHONE', value: '87012345678' });
      assert.ok(tokens.includes(batchPhone.token), 'every subject holding the value is found');
    });

    test('dpo finds both subjects holding an IIN', async () => {
      const { tokens } = await unary(c.dpo.tokenizer, 'Lookup',
        { type: 'FIELD_TYPE_IIN', value: '850315300019', purpose: 'subject_access_request' });
      assert.ok(tokens.includes(matrixTokens.FIELD_TYPE_IIN));
      assert.ok(tokens.length >= 2, 'main and other subject');
      for (const token of tokens) {
        const r = await unary(c.dpo.tokenizer, 'Detokenize', { token, purpose: 'subject_access_request' });
        assert.equal(r.value, '850315300019');
      }
    });

    test('an unheld value finds nothing', async () => {
      const { tokens } = await unary(c.dpo.tokenizer, 'Lookup',
        { type: 'FIELD_TYPE_IIN', value: '061211600012', purpose: 'customer_support' }).catch((e) => ({ e }));
      // dpo has no lookup grant for customer_support: must not be answered.
      assert.equal(tokens, undefined, 'dpo lookup for customer_support must be refused');
      const none = await unary(c.dpo.tokenizer, 'Lookup',
        { type: 'FIELD_TYPE_EMAIL', value: 'nobody@example.kz', purpose: 'subject_access_request' });
      assert.deepEqual(none.tokens, []);
    });

    test('identities without a lookup grant are refused', async () => {
      for (const id of IDENTITIES) {
        if (id === 'support' || id === 'dpo') continue;
        for (const purpose of PURPOSES) {
          await expectCode(unary(c[id].tokenizer, 'Lookup',
            { type: 'FIELD_TYPE_PHONE', value: '+77012345678', purpose }), PERMISSION_DENIED, `${id}/${purpose}`);
        }
      }
    });
  });

  describe('access log', () => {
    let events;
    test('Audit.Verify is ok', async () => {
      const r = await unary(c.auditor.audit, 'Verify', {});
      assert.equal(r.ok, true, `verify: ${r.reason} at ${r.first_bad_seq}`);
      assert.ok(Number(r.events_checked) > 100, `events_checked ${r.events_checked}`);
      assert.equal(r.first_bad_seq, '0');
    });

    test('Audit.Query streams a hash chain with no plaintext in it', async () => {
      events = await serverStream(c.auditor.audit, 'Query', {});
      assert.ok(events.length > 100, `only ${events.length} events`);
      for (let i = 1; i < events.length; i++) {
        assert.ok(BigInt(events[i].seq) > BigInt(events[i - 1].seq), 'events in sequence order');
        if (BigInt(events[i].seq) === BigInt(events[i - 1].seq) + 1n) {
          assert.equal(events[i].prev_hash, events[i - 1].hash, `chain at seq ${events[i].seq}`);
        }
      }
      for (const e of events) {
        const text = JSON.stringify(e);
        for (const p of PLAINTEXTS) {
          assert.ok(!text.includes(p), `event ${e.seq} (${e.rpc}) contains a plaintext value`);
        }
        assert.match(e.hash, /^[0-9a-f]{64}$/);
      }
      const rpcs = new Set(events.map((e) => e.rpc));
      for (const rpc of ['Tokenizer.Tokenize', 'Tokenizer.Detokenize', 'Tokenizer.TokenizeBatch',
        'Tokenizer.DetokenizeBatch', 'Tokenizer.Lookup']) {
        assert.ok([...rpcs].some((r) => r.startsWith(rpc)), `no ${rpc} event`);
      }
      const decisions = new Set(events.map((e) => e.decision));
      for (const d of ['DECISION_ALLOWED', 'DECISION_REVEALED_FULL', 'DECISION_REVEALED_MASKED',
        'DECISION_DENIED', 'DECISION_INVALID', 'DECISION_NOT_FOUND']) {
        assert.ok(decisions.has(d), `no ${d} event`);
      }
    });

    test('events record caller, purpose and justification', async () => {
      const legal = await serverStream(c.auditor.audit, 'Query', { identity: 'legal' });
      assert.ok(legal.length > 0);
      assert.ok(legal.every((e) => e.identity === 'legal'), 'identity filter');
      const justified = legal.filter((e) => e.decision === 'DECISION_REVEALED_FULL');
      assert.ok(justified.length > 0);
      assert.ok(justified.every((e) => e.justification.startsWith('court order INTEROP-')
        && e.purpose === 'legal_request' && e.organisation === 'shop' && e.country === 'KZ'));
      const refused = legal.filter((e) => e.code === FAILED_PRECONDITION);
      assert.ok(refused.length >= TYPES.length, 'missing-justification refusals are logged');

      const abroad = await serverStream(c.auditor.audit, 'Query', { identity: 'partner-de' });
      assert.ok(abroad.length > 0);
      assert.ok(abroad.every((e) => e.country === 'DE' && e.organisation === 'partner'),
        'events of a caller abroad record its country');

      const bySubject = await serverStream(c.auditor.audit, 'Query', { subject_id: SUBJECT_ANALYTICS });
      assert.ok(bySubject.length > 0, 'subject filter finds events');
      const hashes = new Set(bySubject.map((e) => e.subject_hash));
      assert.equal(hashes.size, 1, 'one subject, one hash');
      assert.match([...hashes][0], /^[0-9a-f]+$/);

      const page = await serverStream(c.auditor.audit, 'Query', { limit: 3, after_seq: events[0].seq });
      assert.equal(page.length, 3);
      assert.equal(BigInt(page[0].seq), BigInt(events[0].seq) + 1n);
    });

    test('the log survives a restart and Verify is still ok', async () => {
      const before = await unary(c.auditor.audit, 'Verify', {});
      await restart();
      const r = await unary(c.auditor.audit, 'Verify', {});
      assert.equal(r.ok, true, `verify after restart: ${r.reason}`);
      assert.ok(BigInt(r.events_checked) > BigInt(before.events_checked), 'no event lost');
      const d = await unary(c.dpo.tokenizer, 'Detokenize',
        { token: matrixTokens.FIELD_TYPE_CARD_NUMBER, purpose: 'subject_access_request' });
      assert.equal(d.value, '4111111111111111', 'data readable after restart');
    });

    test('one altered stored event makes Verify fail', async (t) => {
      const probe = spawnSync(LDB, ['--help'], { encoding: 'utf8' });
      if (probe.error) {
        t.skip(`RocksDB "ldb" tool not found (${probe.error.code}); install Debian's rocksdb-tools to run this check`);
        return;
      }
      c.close();
      const { code } = await stopServer(server.child);
      assert.equal(code, 0);
      server = undefined;

      const db = path.join(dataDir, 'db');
      const ldb = (...args) => {
        const r = spawnSync(LDB, [`--db=${db}`, '--column_family=audit', ...args],
          { encoding: 'utf8', maxBuffer: 256 << 20 });
        assert.equal(r.status, 0, `ldb ${args[0]} failed: ${r.stderr}`);
        return r.stdout;
      };
      const rows = ldb('scan', '--key_hex', '--value_hex').split('\n')
        .map((line) => /^0x([0-9A-Fa-f]+) : 0x([0-9A-Fa-f]+)$/.exec(line.trim()))
        .filter(Boolean).map(([, k, v]) => ({ key: k.toUpperCase(), value: v.toUpperCase() }));
      assert.ok(rows.length > 100, `ldb saw ${rows.length} audit rows`);

      // A Detokenize event from the middle of the log: change one letter of
      // its RPC name (same length, so the record stays well-formed).
      const needle = Buffer.from('Tokenizer.Detokenize').toString('hex').toUpperCase();
      const candidates = rows.filter((r) => r.value.includes(needle));
      assert.ok(candidates.length > 2);
      const victim = candidates[Math.floor(candidates.length / 2)];
      const altered = victim.value.replace(needle,
        Buffer.from('Tokenizer.DetokenizE').toString('hex').toUpperCase());
      assert.notEqual(altered, victim.value);
      ldb('put', '--key_hex', '--value_hex', `0x${victim.key}`, `0x${altered}`);
      const seq = BigInt(`0x${victim.key}`);  // keys are big-endian sequence numbers

      server = await startServer(dataDir);
      c = connect(dataDir, server.port);
      const r = await unary(c.auditor.audit, 'Verify', {});
      assert.equal(r.ok, false, 'Verify must notice the altered event');
      assert.equal(BigInt(r.first_bad_seq), seq, `reason: ${r.reason}`);
      assert.ok(r.reason.length > 0);
    });
  });
});
