-- Figure 1: the round trip plus a result as long as the hit's text
-- (:result_len, set by run.sh), with no work: the floor for this result.
SELECT repeat('x', :result_len);
