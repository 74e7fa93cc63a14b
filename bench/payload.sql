-- Figure 1: the same bytes the hit returns, read from a one-row table
-- (bench_payload, made by run.sh): what returning this result costs
-- PostgreSQL without any cache logic.
SELECT doc FROM bench_payload;
