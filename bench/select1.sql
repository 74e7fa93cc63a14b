-- Figure 1: the round-trip floor.
SELECT 1;
