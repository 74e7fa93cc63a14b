'use strict';
// The seed's call-center API on Express + node-postgres, with its result cache
// moved into PostgreSQL: GET endpoints go through querycache_wrap() (one query
// per request), writes carry no cache code at all: the extension's triggers and
// dependency tracking invalidate whatever a write makes stale, including writes
// made behind the app's back.
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');
const { requestContext } = require('./db');

// The agents-list query shared with scripts/demo.sh and the benchmarks; $1 is
// the user id. Its comment lines are dropped.
const AGENTS_LIST_SQL = fs
  .readFileSync(path.join(__dirname, '../../../scripts/agents_list.sql'), 'utf8')
  .split('\n')
  .filter((line) => !/^\s*--/.test(line))
  .join('\n')
  .trim();

const CONTACTS_LIST_SQL =
  'SELECT c.id, c.name, c.phone FROM contacts c WHERE c.user_id = $1 ORDER BY c.id';

// The whole cached read, in ONE statement: the key is computed by
// querycache_key(prefix, {userId}) and the user id reaches the wrapped query as
// its $1, a bound parameter. node-postgres sends parameters untyped; the
// querycache_wrap(key, query, ttl, VARIADIC text[]) overload takes them and
// gives each the type the wrapped query infers for it (bigint here).
// The result is jsonb: node-postgres parses it into an array of row objects.
const CACHED_SQL =
  "SELECT querycache_wrap(querycache_key($1, $2), $3, interval '2 minutes', $4) AS result";

async function cachedList(pool, prefix, sql, userId) {
  const { rows } = await pool.query(CACHED_SQL, [prefix, { userId }, sql, userId]);
  return rows[0].result;
}

// jsonb stores an object's keys shortest first, then bytewise, and that is the
// order JSON.parse keeps. Rows built in JS take the same order, so both modes
// serialize to identical JSON.
function jsonbShape(obj) {
  const keys = Object.keys(obj).sort(
    (a, b) => a.length - b.length || Buffer.compare(Buffer.from(a), Buffer.from(b)),
  );
  return Object.fromEntries(keys.map((k) => [k, obj[k]]));
}

function httpError(status, message) {
  return Object.assign(new Error(message), { status, expose: true });
}

const ID = /^[1-9][0-9]{0,14}$/; // positive, and exact as a JS number

function parseId(value, what) {
  if (typeof value === 'number' ? !Number.isSafeInteger(value) || value < 1 : !ID.test(String(value)))
    throw httpError(400, `invalid ${what}`);
  return Number(value);
}

function optionalString(value, what) {
  if (value !== undefined && value !== null && typeof value !== 'string')
    throw httpError(400, `${what} must be a string`);
  return value ?? null;
}

function requiredString(value, what) {
  if (typeof value !== 'string' || value.trim() === '') throw httpError(400, `${what} is required`);
  return value;
}

const agentRow = (r) => jsonbShape({ id: Number(r.id), name: r.name, email: r.email, status: r.status });

function createApp({ pool, log = console.log }) {
  const app = express();
  app.disable('x-powered-by');

  // One log line per request, and its query count in an X-Queries header.
  app.use((req, res, next) => {
    const ctx = { queries: 0 };
    const start = process.hrtime.bigint();
    const writeHead = res.writeHead;
    res.writeHead = function writeHeadWithQueryCount(...args) {
      this.setHeader('X-Queries', String(ctx.queries));
      return writeHead.apply(this, args);
    };
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      log(
        `INFO: HTTP Request method=${req.method} url=${req.originalUrl} status=${res.statusCode}` +
          ` duration=${ms.toFixed(1)}ms queriesExecuted=${ctx.queries}`,
      );
    });
    requestContext.run(ctx, next);
  });
  app.use(express.json());

  // The "current user" (the seed had a bearer token).
  app.use('/api', (req, res, next) => {
    req.userId = parseId(req.get('X-User-Id') ?? '1', 'X-User-Id');
    next();
  });

  app.get('/api/agents', async (req, res) => {
    if (req.query.cache === 'off') return res.json(await listAgentsUncached(pool, req.userId));
    res.json(await cachedList(pool, 'agents:list', AGENTS_LIST_SQL, req.userId));
  });

  app.get('/api/contacts', async (req, res) => {
    if (req.query.cache === 'off') {
      const { rows } = await pool.query(CONTACTS_LIST_SQL, [req.userId]);
      return res.json(rows.map((r) => jsonbShape({ id: Number(r.id), name: r.name, phone: r.phone })));
    }
    res.json(await cachedList(pool, 'contacts:list', CONTACTS_LIST_SQL, req.userId));
  });

  // Writes: plain SQL, no cache code.
  app.post('/api/agents', async (req, res) => {
    const name = requiredString(req.body?.name, 'name');
    const email = optionalString(req.body?.email, 'email');
    const { rows } = await pool.query(
      'INSERT INTO agents (user_id, name, email) VALUES ($1, $2, $3) RETURNING id, name, email, status',
      [req.userId, name, email],
    );
    res.status(201).json(agentRow(rows[0]));
  });

  app.put('/api/agents/:id', async (req, res) => {
    const id = parseId(req.params.id, 'agent id');
    const { name, email, status } = req.body ?? {};
    const { rows } = await pool.query(
      `UPDATE agents SET name = coalesce($3, name), email = coalesce($4, email), status = coalesce($5, status)
        WHERE id = $1 AND user_id = $2 RETURNING id, name, email, status`,
      [id, req.userId, optionalString(name, 'name'), optionalString(email, 'email'), optionalString(status, 'status')],
    );
    if (rows.length === 0) throw httpError(404, 'agent not found');
    res.json(agentRow(rows[0]));
  });

  app.delete('/api/agents/:id', async (req, res) => {
    const id = parseId(req.params.id, 'agent id');
    const { rowCount } = await pool.query('DELETE FROM agents WHERE id = $1 AND user_id = $2', [id, req.userId]);
    if (rowCount === 0) throw httpError(404, 'agent not found');
    res.status(204).end();
  });

  // A campaign and its call queue. The unique (campaign_id, contact_id)
  // constraint makes a contact listed twice (the seed's "Allocating 2 calls"
  // for 1 contact) one queue entry; contacts of other users are skipped.
  app.post('/api/campaigns', async (req, res) => {
    const name = requiredString(req.body?.name, 'name');
    const agentId = parseId(req.body?.agentId, 'agentId');
    const contactIds = req.body?.contactIds;
    if (!Array.isArray(contactIds)) throw httpError(400, 'contactIds must be an array');
    contactIds.forEach((c) => parseId(c, 'contact id'));

    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const campaign = await client.query(
        `INSERT INTO call_campaigns (user_id, agent_id, name)
         SELECT $1, a.id, $3 FROM agents a WHERE a.id = $2 AND a.user_id = $1 RETURNING id`,
        [req.userId, agentId, name],
      );
      if (campaign.rowCount === 0) throw httpError(404, 'agent not found');
      const id = Number(campaign.rows[0].id);
      const queue = await client.query(
        `INSERT INTO call_queue (campaign_id, contact_id)
         SELECT $1, c.id FROM unnest($2::bigint[]) AS ids(id) JOIN contacts c ON c.id = ids.id AND c.user_id = $3
         ON CONFLICT ON CONSTRAINT call_queue_campaign_contact_unique DO NOTHING`,
        [id, contactIds.map(String), req.userId],
      );
      log(`Allocating ${queue.rowCount} calls for campaign ${id} (${contactIds.length} contact ids given)`);
      await client.query('COMMIT');
      res.status(201).json({ id, name, agentId, allocated: queue.rowCount });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  });

  app.get('/api/cache/stats', async (req, res) => {
    const { rows } = await pool.query('SELECT to_jsonb(s) AS stats FROM querycache_stats s');
    res.json(rows[0].stats);
  });

  app.use((req, res) => res.status(404).json({ error: 'not found' }));
  // Express 5 forwards rejected promises of async handlers here.
  app.use((err, req, res, next) => {
    const status = err.expose && err.status ? err.status : 500;
    if (status === 500) console.error(`${req.method} ${req.originalUrl}:`, err);
    res.status(status).json({ error: status === 500 ? 'internal error' : err.message });
  });
  return app;
}

// The original N+1 endpoint (?cache=off): the agents, then three count
// queries per agent. Same rows and shape as the cached agents-list query.
async function listAgentsUncached(pool, userId) {
  const count = async (sql, agentId) => Number((await pool.query(sql, [agentId])).rows[0].count);
  const { rows: agents } = await pool.query(
    'SELECT id, name, email, status FROM agents WHERE user_id = $1 ORDER BY id',
    [userId],
  );
  const result = [];
  for (const a of agents) {
    const campaigns = await count('SELECT count(*) FROM call_campaigns WHERE agent_id = $1', a.id);
    const queued = await count(
      'SELECT count(*) FROM call_queue q JOIN call_campaigns c ON c.id = q.campaign_id WHERE c.agent_id = $1',
      a.id,
    );
    const pending = await count(
      `SELECT count(*) FROM call_queue q JOIN call_campaigns c ON c.id = q.campaign_id
        WHERE c.agent_id = $1 AND q.status = 'pending'`,
      a.id,
    );
    result.push(jsonbShape({ ...agentRow(a), campaigns, queued, pending }));
  }
  return result;
}

module.exports = { createApp, AGENTS_LIST_SQL };
