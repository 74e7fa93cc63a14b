-- Figure 4 reference: the same jsonb value of :bytes bytes built by the query
-- itself, no cache: what producing and sending it costs anyway.
SELECT to_jsonb(repeat('x', :bytes));
