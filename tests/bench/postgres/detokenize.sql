-- pgbench script: one Detokenize call = one transaction (autocommit
-- statement): policy check + select + decrypt of a uniformly random preloaded
-- token + audit row, durable on commit before the value is returned.
-- :preload is passed by ./run (pgbench -D preload=N).
\set i random(1, :preload)
SELECT vault_detokenize('dpo', 'support', (SELECT token FROM bench_tokens WHERE i = :i));
