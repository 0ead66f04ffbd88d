-- pgbench script: one Tokenize call = one transaction (autocommit statement):
-- policy check + insert of the encrypted value with its blind index (one
-- token per subject/type/value) + audit row, durable on commit.
-- A random synthetic value of a random field type (1..9) for a random one of
-- 100000 subjects; n up to 10^12, so values practically never repeat and
-- every call creates a token, as with sandyq-bench's tokenize mode.
\set subject random(1, 100000)
\set ft random(1, 9)
\set n random(1, 1000000000000)
SELECT vault_tokenize('checkout', 'payment', 'bench-subject-' || :subject, :ft, bench_value(:ft, :n));
