-- The call-center schema of the seed (users, agents, contacts, call_campaigns,
-- call_queue), as the demo, the benchmarks and the Node example use it.
-- Deliberately without the seed's indexes and without the unique
-- call_queue (campaign_id, contact_id) constraint: CREATE EXTENSION querycache
-- adds them (migration 047).
CREATE TABLE users (
	id			bigserial PRIMARY KEY,
	email		text NOT NULL UNIQUE,
	name		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
	id			bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	name		text NOT NULL,
	email		text,
	status		text NOT NULL DEFAULT 'active',
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
	id			bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	name		text NOT NULL,
	phone		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE call_campaigns (
	id			bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	agent_id	bigint REFERENCES agents (id) ON DELETE SET NULL,
	name		text NOT NULL,
	status		text NOT NULL DEFAULT 'active',
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE call_queue (
	id			bigserial PRIMARY KEY,
	campaign_id bigint NOT NULL REFERENCES call_campaigns (id) ON DELETE CASCADE,
	contact_id	bigint NOT NULL REFERENCES contacts (id),
	status		text NOT NULL DEFAULT 'pending',
	attempts	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now()
);
