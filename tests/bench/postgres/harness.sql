-- Benchmark harness for the PostgreSQL baseline: NOT part of the vault a team
-- would build (that is schema.sql). Loaded by ./run after schema.sql.
--
-- bench_value(type, n): synthetic values shaped like sandyq-bench's
--   (client/bench/synthetic_values.cc): same nine field types, similar
--   lengths; random digits and made-up names, no real personal data.
--   Computed server-side only because pgbench expressions yield numbers; it
--   costs a few microseconds per call.
-- bench_tokens(i, token): the preloaded tokens by number, so that
--   detokenize.sql can pick a uniformly random existing token
--   (one extra primary-key lookup on a small int table, inside the same
--   statement: a few microseconds, against PostgreSQL).
-- bench_preload(lo, hi): tokenizes values lo..hi through vault_tokenize in
--   one transaction (./run runs two ranges in parallel): nine values (one of
--   each type) per subject, so no (subject, type, value) repeats and every
--   preloaded number has its own token.

CREATE FUNCTION bench_value(ft integer, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE ft
        WHEN 1 THEN 'Тест Тестов-' || n                                  -- full name
        WHEN 2 THEN lpad((n % 1000000000000)::text, 12, '0')             -- IIN, 12 digits
        WHEN 3 THEN 'N' || lpad((n % 100000000)::text, 8, '0')           -- passport
        WHEN 4 THEN '+7701' || lpad((n % 10000000)::text, 7, '0')        -- phone
        WHEN 5 THEN '4000' || lpad((n % 1000000000000)::text, 12, '0')   -- card number
        WHEN 6 THEN lpad((n % 12 + 1)::text, 2, '0') || '/' || (26 + n % 74)  -- card expiry
        WHEN 7 THEN 'bench' || n || '@example.test'                      -- e-mail
        WHEN 8 THEN to_char(date '1940-01-01' + (n % 30000)::integer, 'YYYY-MM-DD')  -- birth date
        ELSE 'г. Тестоград, ул. Тестовая, ' || (n % 1000 + 1)            -- address
    END
$$;

CREATE TABLE bench_tokens (i bigint PRIMARY KEY, token text NOT NULL);

-- The callers the benchmark uses (sandyq-bench: checkout tokenizes, dpo
-- detokenizes).
INSERT INTO access_policy VALUES
    ('checkout', 'tokenize', 'payment'),
    ('dpo', 'detokenize', 'support'),
    ('loader', 'tokenize', 'preload');

CREATE FUNCTION bench_preload(lo bigint, hi bigint) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO bench_tokens (i, token)
    SELECT i, vault_tokenize('loader', 'preload', 'bench-preload-' || (i / 9),
                             (i % 9 + 1)::smallint, bench_value((i % 9 + 1)::integer, i))
    FROM generate_series(lo, hi) AS i;
    SELECT count(*) FROM bench_tokens WHERE i BETWEEN lo AND hi;
$$;

GRANT EXECUTE ON FUNCTION bench_value(integer, bigint) TO vault_app;
GRANT SELECT ON bench_tokens TO vault_app;
