-- Figure 5: a write to agents, a watched table (its trigger invalidates).
\set id random(1, 200)
UPDATE agents SET name = name WHERE id = :id;
