-- PostgreSQL 15 + pgcrypto: the tokenization vault a careful team would build
-- instead of sandyq. It is the baseline of issue 5 (tests/bench/postgres/run
-- loads it into a throw-away cluster; see README.md there).
--
-- The shape follows sandyq's own records (server/vault/tokenize.cc): a random
-- token per value, the value encrypted, a keyed hash of the subject, a keyed
-- blind index for lookups by value, one token per (subject, type, value), an
-- audit row for every call, durable on commit. Where the baseline is simpler
-- than sandyq (one data key instead of one per subject, no associated data),
-- the simplification favours PostgreSQL, so sandyq / PostgreSQL ratios are
-- conservative.
--
-- Keys. Two 256-bit keys, hex, never stored in the database or its config
-- files: the application passes them when it connects, as custom settings
-- (PGOPTIONS='-c vault.data_key=... -c vault.index_key=...', or SET at the
-- start of a pooled session), reading them from its secret store. The
-- functions read them with current_setting(). This is the usual pgcrypto
-- pattern; its known limit (a superuser, or the logged statement of a session
-- that SETs them, can see them) is one reason teams look at vault products.
--
-- Durability: the server keeps PostgreSQL's defaults fsync = on,
-- synchronous_commit = on, full_page_writes = on (run sets them explicitly),
-- so a call returns only once its token and its audit row are in the flushed
-- WAL, as sandyq acknowledges only durable writes. Concurrent commits share
-- WAL flushes (PostgreSQL's own group commit).

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Roles: the application logs in as vault_app, which may only EXECUTE the two
-- functions below; the tables belong to vault_owner, which cannot log in. So
-- a compromised application can neither read ciphertexts in bulk nor rewrite
-- the audit trail. (Standard least privilege: no table grants to the app.)
CREATE ROLE vault_owner NOLOGIN;
CREATE ROLE vault_app LOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO vault_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO vault_app;

SET ROLE vault_owner;

-- One row per token.
CREATE TABLE tokens (
    -- Random, 144 bits, URL-safe base64 (24 characters): unguessable and
    -- carrying nothing of the value. Text primary key: the detokenize lookup.
    token        text PRIMARY KEY,
    -- HMAC-SHA256 of the subject id under the index key: "all data of this
    -- person" (access and erasure requests) without storing the id in clear.
    subject_hash bytea    NOT NULL,
    field_type   smallint NOT NULL CHECK (field_type BETWEEN 1 AND 9),
    -- pgp_sym_encrypt_bytea, AES-256, integrity-protected (OpenPGP MDC).
    -- pgcrypto's documentation recommends the PGP functions over the raw
    -- encrypt()/encrypt_iv() ones (no integrity, hand-made IVs). s2k-mode=1
    -- (salted, not iterated): the "password" is a random 256-bit key, so
    -- pgcrypto's default iterated S2K (tens of thousands of SHA-1 rounds,
    -- ~0.36 ms per call on this machine kind) buys nothing; a careful team
    -- turns it off. ~15 us to encrypt, ~7 us to decrypt a short value.
    ciphertext   bytea    NOT NULL,
    -- HMAC-SHA256 of "type:value" under the index key: equality lookups by
    -- value (search by phone, by e-mail) without decrypting.
    blind_index  bytea    NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One token per (subject, type, value), as sandyq's dedup key: tokenizing the
-- same card of the same person twice returns the same token. The leading
-- subject_hash also serves "all tokens of a subject".
CREATE UNIQUE INDEX tokens_subject_value ON tokens (subject_hash, field_type, blind_index);
-- Lookup by value across subjects (sandyq's blind index).
CREATE INDEX tokens_blind_index ON tokens (field_type, blind_index);

-- Who may do what for which purpose (sandyq evaluates its policy on every
-- call; the baseline does the same with one primary-key lookup).
CREATE TABLE access_policy (
    identity text NOT NULL,
    action   text NOT NULL CHECK (action IN ('tokenize', 'detokenize')),
    purpose  text NOT NULL,
    PRIMARY KEY (identity, action, purpose)
);

-- Append-only audit trail: one row per call, allowed or not, written in the
-- same transaction as the data, so there is no access without its record.
CREATE TABLE audit (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    identity text NOT NULL,          -- the caller (the application passes it)
    action   text NOT NULL,          -- tokenize | detokenize
    token    text,
    purpose  text NOT NULL,
    decision text NOT NULL           -- allow | deny | not_found
);

-- Append-only even for the owner: UPDATE, DELETE and TRUNCATE raise. (Only a
-- superuser disabling the triggers gets around it; statement-level triggers
-- cost nothing on INSERT.)
CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Tokenize: one call, one round trip, one transaction (the caller's
-- autocommit statement): policy check, insert of the encrypted value with its
-- blind index (or the existing token of the same subject/type/value), audit
-- row. SECURITY DEFINER with a fixed search_path: the app runs it without
-- table rights, and cannot hijack it through its own schemas.
CREATE FUNCTION vault_tokenize(p_identity text, p_purpose text, p_subject text,
                               p_field_type smallint, p_value text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    k_index bytea := decode(current_setting('vault.index_key'), 'hex');
    v_subject bytea;
    v_blind bytea;
    v_token text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM access_policy
                   WHERE identity = p_identity AND action = 'tokenize'
                     AND purpose = p_purpose) THEN
        INSERT INTO audit (identity, action, purpose, decision)
        VALUES (p_identity, 'tokenize', p_purpose, 'deny');
        RETURN NULL;
    END IF;
    v_subject := hmac(convert_to('subject:' || p_subject, 'UTF8'), k_index, 'sha256');
    v_blind := hmac(convert_to(p_field_type || ':' || p_value, 'UTF8'), k_index, 'sha256');
    INSERT INTO tokens (token, subject_hash, field_type, ciphertext, blind_index)
    VALUES (translate(encode(gen_random_bytes(18), 'base64'), '+/', '-_'),
            v_subject, p_field_type,
            pgp_sym_encrypt_bytea(convert_to(p_value, 'UTF8'),
                                  current_setting('vault.data_key'),
                                  'cipher-algo=aes256, s2k-mode=1'),
            v_blind)
    ON CONFLICT (subject_hash, field_type, blind_index) DO NOTHING
    RETURNING token INTO v_token;
    IF v_token IS NULL THEN  -- already tokenized: the same token again
        SELECT token INTO v_token FROM tokens
        WHERE subject_hash = v_subject AND field_type = p_field_type
          AND blind_index = v_blind;
    END IF;
    INSERT INTO audit (identity, action, token, purpose, decision)
    VALUES (p_identity, 'tokenize', v_token, p_purpose, 'allow');
    RETURN v_token;
END
$$;

-- Detokenize: policy check, select + decrypt, audit row, in one transaction;
-- the audit row is durable before the value is returned (synchronous commit).
CREATE FUNCTION vault_detokenize(p_identity text, p_purpose text, p_token text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_ciphertext bytea;
    v_found boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM access_policy
                   WHERE identity = p_identity AND action = 'detokenize'
                     AND purpose = p_purpose) THEN
        INSERT INTO audit (identity, action, token, purpose, decision)
        VALUES (p_identity, 'detokenize', p_token, p_purpose, 'deny');
        RETURN NULL;
    END IF;
    SELECT ciphertext INTO v_ciphertext FROM tokens WHERE token = p_token;
    v_found := FOUND;
    INSERT INTO audit (identity, action, token, purpose, decision)
    VALUES (p_identity, 'detokenize', p_token, p_purpose,
            CASE WHEN v_found THEN 'allow' ELSE 'not_found' END);
    IF NOT v_found THEN
        RETURN NULL;
    END IF;
    RETURN convert_from(pgp_sym_decrypt_bytea(v_ciphertext,
                                              current_setting('vault.data_key')),
                        'UTF8');
END
$$;

RESET ROLE;

REVOKE ALL ON FUNCTION vault_tokenize(text, text, text, smallint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault_detokenize(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vault_tokenize(text, text, text, smallint, text) TO vault_app;
GRANT EXECUTE ON FUNCTION vault_detokenize(text, text, text) TO vault_app;
