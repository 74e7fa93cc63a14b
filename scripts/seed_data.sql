-- Deterministic call-center data for scripts/schema.sql (load it after that file).
--   20 users; per user: 10 agents, 1000 contacts, 30 campaigns (each assigned one
--   of that user's agents) and 99 queued calls per campaign to distinct contacts
--   of the user (59,400 rows); plus 600 rows repeating an existing
--   (campaign_id, contact_id) pair ON PURPOSE (1% of 60,000 rows):
--   CREATE EXTENSION querycache's migration moves them to call_queue_duplicates.
-- Ids are explicit: user u owns agents (u-1)*10+1..u*10, contacts
-- (u-1)*1000+1..u*1000 and campaigns (u-1)*30+1..u*30.
BEGIN;
SET LOCAL max_parallel_workers_per_gather = 0;	-- keep random() in this backend
SELECT setseed(0.4242);

INSERT INTO users (id, email, name, created_at)
SELECT u, format('owner%s@example.com', u), format('Owner %s', u),
       timestamptz '2024-01-01 00:00+00' + u * interval '1 day'
  FROM generate_series(1, 20) u;

INSERT INTO agents (id, user_id, name, email, status, created_at)
SELECT (u - 1) * 10 + k, u, format('Agent %s-%s', u, k), format('agent%s.%s@example.com', u, k),
       (ARRAY['active', 'active', 'active', 'active', 'active', 'active', 'active', 'paused', 'paused', 'offline'])[1 + floor(random() * 10)::int],
       timestamptz '2024-02-01 00:00+00' + ((u - 1) * 10 + k) * interval '1 hour'
  FROM generate_series(1, 20) u, generate_series(1, 10) k;

INSERT INTO contacts (id, user_id, name, phone, created_at)
SELECT (u - 1) * 1000 + k, u, format('Contact %s-%s', u, k),
       format('+1-555-%s', lpad(((u - 1) * 1000 + k)::text, 7, '0')),
       timestamptz '2024-03-01 00:00+00' + k * interval '1 minute'
  FROM generate_series(1, 20) u, generate_series(1, 1000) k;

INSERT INTO call_campaigns (id, user_id, agent_id, name, status, created_at)
SELECT (u - 1) * 30 + k, u, (u - 1) * 10 + 1 + floor(random() * 10)::int,
       format('Campaign %s-%s', u, k),
       CASE WHEN random() < 0.85 THEN 'active' ELSE 'paused' END,
       timestamptz '2024-04-01 00:00+00' + k * interval '1 day'
  FROM generate_series(1, 20) u, generate_series(1, 30) k;

-- 99 distinct contacts per campaign: (start + 7j) mod 1000 never repeats for j < 1000.
INSERT INTO call_queue (campaign_id, contact_id, status, attempts, created_at)
SELECT c.id, (c.user_id - 1) * 1000 + 1 + (c.start + 7 * j) % 1000,
       (ARRAY['pending', 'pending', 'pending', 'pending', 'pending', 'pending', 'completed', 'completed', 'failed', 'in_progress'])[1 + floor(random() * 10)::int],
       floor(random() * 4)::int,
       timestamptz '2024-05-01 00:00+00' + j * interval '1 minute'
  FROM (SELECT id, user_id, floor(random() * 1000)::int AS start
          FROM call_campaigns ORDER BY id) c,
       generate_series(0, 98) j
 ORDER BY c.id, j;

-- The deliberate duplicates: 600 distinct existing pairs, queued a second time.
INSERT INTO call_queue (campaign_id, contact_id, status, attempts, created_at)
SELECT campaign_id, contact_id, 'pending', 0, created_at + interval '1 hour'
  FROM (SELECT * FROM call_queue ORDER BY id) q
 ORDER BY random()
 LIMIT 600;

SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users;
SELECT setval(pg_get_serial_sequence('agents', 'id'), max(id)) FROM agents;
SELECT setval(pg_get_serial_sequence('contacts', 'id'), max(id)) FROM contacts;
SELECT setval(pg_get_serial_sequence('call_campaigns', 'id'), max(id)) FROM call_campaigns;
COMMIT;

ANALYZE users, agents, contacts, call_campaigns, call_queue;
