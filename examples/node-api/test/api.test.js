'use strict';
// End-to-end tests: starts `node src/server.js` on an ephemeral port against
// the database named by PGHOST/PGPORT/PGDATABASE/PGUSER (schema.sql +
// seed_data.sql loaded, CREATE EXTENSION querycache done; scripts/test_node.sh
// prepares one) and calls it over HTTP. The app's database must not be shared
// with other running tests: querycache's statistics are server-wide.
// LOAD_SECONDS (default 3) and LOAD_CLIENTS (default 8) tune the load check.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { Client } = require('pg');

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 3);
const LOAD_CLIENTS = Number(process.env.LOAD_CLIENTS ?? 8);
const AGENT_FIELDS = ['id', 'name', 'email', 'queued', 'status', 'pending', 'campaigns'];

let server; // the app's child process
let base; // its URL
const logs = []; // its stdout lines
let db; // a separate connection, for writes behind the app's back and for stats

before(async () => {
  db = new Client();
  await db.connect();
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'querycache') AS ext,
            (SELECT count(*) FROM pg_constraint WHERE conname = 'call_queue_campaign_contact_unique') AS uniq,
            (SELECT count(*) FROM agents WHERE user_id = 1) AS agents`,
  );
  assert.deepEqual(rows[0], { ext: '1', uniq: '1', agents: '10' },
    'needs the seed data, CREATE EXTENSION querycache and its call_queue unique constraint');

  server = spawn(process.execPath, [path.join(__dirname, '../src/server.js')], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: server.stdout });
  base = await new Promise((resolve, reject) => {
    server.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    lines.on('line', (line) => {
      logs.push(line);
      const m = /listening on (http:\S+)/.exec(line);
      if (m) resolve(m[1].replace('localhost', '127.0.0.1'));
    });
  });
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  await db?.end();
});

async function api(urlPath, { user = 1, method = 'GET', body } = {}) {
  const headers = { 'X-User-Id': String(user) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + urlPath, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  return {
    status: res.status,
    queries: Number(res.headers.get('x-queries')),
    text,
    json: text ? JSON.parse(text) : undefined,
  };
}

async function stats() {
  const { rows } = await db.query('SELECT hits, misses, fills, invalidations FROM querycache_stats');
  return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
}

// GET /api/agents cached and with ?cache=off: both 200 and byte-identical.
async function agentsBothWays(user) {
  const cached = await api('/api/agents', { user });
  const uncached = await api('/api/agents?cache=off', { user });
  assert.equal(cached.status, 200, cached.text);
  assert.equal(uncached.status, 200, uncached.text);
  assert.equal(cached.text, uncached.text, 'cached and ?cache=off JSON differ');
  return cached.json;
}

// Two cached GETs; the second must be a hit. Returns its rows.
async function warmAgents(user) {
  await api('/api/agents', { user });
  const before = await stats();
  const res = await api('/api/agents', { user });
  const after = await stats();
  assert.equal(res.status, 200);
  assert.equal(after.hits, before.hits + 1, 'second GET /api/agents is not a cache hit');
  return res.json;
}

test('cached and uncached GET /api/agents return the same JSON', async () => {
  await db.query("SELECT querycache_clear_pattern('^agents:list')");
  const cached = await api('/api/agents'); // a miss: fills the entry
  const uncached = await api('/api/agents?cache=off');
  assert.equal(cached.status, 200);
  assert.equal(uncached.status, 200);
  assert.equal(cached.text, uncached.text);
  assert.equal(cached.json.length, 10);
  for (const agent of cached.json) {
    assert.deepEqual(Object.keys(agent), AGENT_FIELDS);
    for (const k of ['id', 'campaigns', 'queued', 'pending']) assert.equal(typeof agent[k], 'number', k);
  }
  assert.ok(cached.json.some((a) => a.campaigns > 0 && a.queued > a.pending && a.pending > 0));
  // The second cached GET is the same once more, from the cache.
  assert.equal((await api('/api/agents')).text, uncached.text);
});

test('a repeated cached GET is a hit and runs 1 query; ?cache=off runs 1 + 3 per agent', async () => {
  await api('/api/agents');
  const before = await stats();
  const cached = await api('/api/agents');
  const after = await stats();
  assert.equal(after.hits, before.hits + 1);
  assert.equal(after.misses, before.misses);
  assert.equal(cached.queries, 1);

  const uncached = await api('/api/agents?cache=off');
  assert.equal(uncached.queries, 1 + 3 * uncached.json.length);
  assert.equal((await stats()).hits, after.hits, '?cache=off must not touch the cache');
  assert.ok(
    logs.some((l) => /method=GET url=\/api\/agents status=200 duration=[\d.]+ms queriesExecuted=1$/.test(l)),
    'no request log line for the cached GET',
  );
});

test('POST /api/agents: the next GET shows the new agent, with no app-side invalidation', async () => {
  await warmAgents(1);
  const created = await api('/api/agents', { method: 'POST', body: { name: 'New Agent', email: 'new@example.com' } });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json, { id: created.json.id, name: 'New Agent', email: 'new@example.com', status: 'active' });

  const agents = await agentsBothWays(1);
  assert.equal(agents.length, 11);
  assert.deepEqual(agents.at(-1), {
    id: created.json.id, name: 'New Agent', email: 'new@example.com',
    queued: 0, status: 'active', pending: 0, campaigns: 0,
  });
});

test('a write behind the app\'s back (UPDATE by another client) shows in the next GET', async () => {
  const agents = await warmAgents(1);
  const target = agents[2];
  await db.query('UPDATE agents SET name = $1 WHERE id = $2', ['Renamed Behind The Back', target.id]);
  const after = await agentsBothWays(1);
  assert.equal(after.find((a) => a.id === target.id).name, 'Renamed Behind The Back');
});

test('PUT and DELETE /api/agents/:id show in the next GET', async () => {
  const agents = await warmAgents(1);
  const victim = agents.at(-1);

  const put = await api(`/api/agents/${victim.id}`, { method: 'PUT', body: { name: 'Updated', status: 'paused' } });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json, { id: victim.id, name: 'Updated', email: victim.email, status: 'paused' });
  let now = await agentsBothWays(1);
  assert.deepEqual(now.find((a) => a.id === victim.id), { ...victim, name: 'Updated', status: 'paused' });

  await warmAgents(1);
  const del = await api(`/api/agents/${victim.id}`, { method: 'DELETE' });
  assert.equal(del.status, 204);
  now = await agentsBothWays(1);
  assert.equal(now.length, agents.length - 1);
  assert.equal(now.find((a) => a.id === victim.id), undefined);

  assert.equal((await api(`/api/agents/${victim.id}`, { method: 'DELETE' })).status, 404);
  assert.equal((await api(`/api/agents/${agents[0].id}`, { method: 'DELETE', user: 2 })).status, 404,
    'another user\'s agent');
});

test('POST /api/campaigns with a duplicate contact allocates one queue entry', async () => {
  const user = 4;
  const { rows } = await db.query(
    `SELECT (SELECT min(id) FROM agents WHERE user_id = $1) AS agent,
            (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM contacts WHERE user_id = $1 ORDER BY id LIMIT 2) c) AS contacts`,
    [user],
  );
  const agentId = Number(rows[0].agent);
  const [c1, c2] = rows[0].contacts.map(Number);
  const before = (await warmAgents(user)).find((a) => a.id === agentId);

  const res = await api('/api/campaigns', { user, method: 'POST', body: { name: 'Dup test', agentId, contactIds: [c1, c1] } });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.allocated, 1);
  const queued = await db.query('SELECT contact_id FROM call_queue WHERE campaign_id = $1', [res.json.id]);
  assert.deepEqual(queued.rows.map((r) => Number(r.contact_id)), [c1]);
  assert.ok(logs.some((l) => l.startsWith(`Allocating 1 calls for campaign ${res.json.id}`)), 'no "Allocating 1 calls" log line');
  assert.ok(!logs.some((l) => l.startsWith(`Allocating 2 calls for campaign ${res.json.id}`)));

  const res2 = await api('/api/campaigns', { user, method: 'POST', body: { name: 'Dup test 2', agentId, contactIds: [c2, c1, c2] } });
  assert.equal(res2.status, 201, res2.text);
  assert.equal(res2.json.allocated, 2);

  // The cached agents list read call_campaigns and call_queue: the inserts
  // invalidated it (dependency tracking), and the counts moved.
  const after = (await agentsBothWays(user)).find((a) => a.id === agentId);
  assert.deepEqual(after, {
    ...before, campaigns: before.campaigns + 2, queued: before.queued + 3, pending: before.pending + 3,
  });

  assert.equal((await api('/api/campaigns', { user, method: 'POST', body: { name: 'x', agentId: 1, contactIds: [] } })).status,
    404, 'another user\'s agent');
  assert.equal((await api('/api/campaigns', { user, method: 'POST', body: { name: 'x', agentId } })).status, 400);
});

test('GET /api/contacts is cached the same way', async () => {
  const user = 3;
  await db.query("SELECT querycache_clear_pattern('^contacts:list')");
  const s0 = await stats();
  const first = await api('/api/contacts', { user });
  const second = await api('/api/contacts', { user });
  const s1 = await stats();
  assert.equal(first.status, 200);
  assert.equal(second.queries, 1);
  assert.equal(s1.misses, s0.misses + 1);
  assert.equal(s1.hits, s0.hits + 1);
  assert.equal(first.text, second.text);
  assert.equal(first.text, (await api('/api/contacts?cache=off', { user })).text);
  assert.equal(first.json.length, 1000);
  assert.deepEqual(Object.keys(first.json[0]), ['id', 'name', 'phone']);
  const keys = await db.query(
    `SELECT key FROM querycache_entries
      WHERE key LIKE 'contacts:list%' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  assert.deepEqual(keys.rows.map((r) => r.key), [`contacts:list:userId=${user}`]);

  await db.query("INSERT INTO contacts (user_id, name, phone) VALUES ($1, 'Late Contact', '+1-555-9999999')", [user]);
  const after = await api('/api/contacts', { user });
  assert.equal(after.json.length, 1001);
  assert.equal(after.json.at(-1).name, 'Late Contact');
});

// Hits sent to a text-format client skip jsonb_out (querycache's output.c);
// a client asking for binary results must still get jsonb's binary form: a
// version byte 1, then the text.
test('a hit is sent in the result format the client asked for', async () => {
  const raw = { getTypeParser: () => (value) => value };
  const sql = "SELECT querycache_wrap('node:format:' || $1, 'SELECT 1 AS one, ''naïve'' AS s')";
  const key = String(process.pid);
  await db.query({ text: sql, values: [key], types: raw }); // the fill
  const s0 = await stats();
  const asText = await db.query({ text: sql, values: [key], types: raw });
  const asBinary = await db.query({ text: sql, values: [key], types: raw, binary: true });
  // and a binary cursor, fetched with the simple protocol
  await db.query('BEGIN');
  await db.query(`DECLARE node_format BINARY CURSOR FOR
    SELECT querycache_wrap('node:format:${key}', 'SELECT 1 AS one, ''naïve'' AS s')`);
  const fetched = await db.query({ text: 'FETCH node_format', types: raw });
  await db.query('COMMIT');
  const s1 = await stats();
  assert.equal(s1.hits - s0.hits, 3);
  assert.equal(asText.rows[0].querycache_wrap, '[{"s": "naïve", "one": 1}]');
  assert.deepEqual(fetched.rows[0].querycache_wrap,
    Buffer.concat([Buffer.from([1]), Buffer.from('[{"s": "naïve", "one": 1}]')]));
  assert.deepEqual(asBinary.rows[0].querycache_wrap,
    Buffer.concat([Buffer.from([1]), Buffer.from('[{"s": "naïve", "one": 1}]')]));
});

test('GET /api/cache/stats returns querycache_stats', async () => {
  const res = await api('/api/cache/stats');
  assert.equal(res.status, 200);
  const db_ = await stats();
  for (const k of ['entries', 'hits', 'misses', 'fills', 'invalidations', 'hit_ratio', 'max_entries'])
    assert.equal(typeof res.json[k], 'number', k);
  assert.equal(res.json.hits, db_.hits);
  assert.ok(res.json.hits > 0 && res.json.fills > 0 && res.json.invalidations > 0);
});

// Correctness under concurrency; the rates are printed, not asserted.
async function load(urlPath, user, expected) {
  let ok = 0;
  const bad = [];
  const deadline = Date.now() + LOAD_SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: LOAD_CLIENTS }, async () => {
      while (Date.now() < deadline) {
        const res = await api(urlPath, { user });
        if (res.status === 200 && res.text === expected) ok += 1;
        else bad.push(`${res.status} ${res.text.slice(0, 200)}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { ok, bad, rps: ok / seconds };
}

test(`load: ${LOAD_CLIENTS} concurrent clients for ${LOAD_SECONDS}s, cached vs ?cache=off`, async (t) => {
  const user = 5;
  const expected = (await api('/api/agents?cache=off', { user })).text;
  assert.equal((await api('/api/agents', { user })).text, expected);

  const s0 = await stats();
  const cached = await load('/api/agents', user, expected);
  const s1 = await stats();
  const uncached = await load('/api/agents?cache=off', user, expected);
  const line =
    `GET /api/agents: cached ${cached.rps.toFixed(0)} req/s, ?cache=off ${uncached.rps.toFixed(0)} req/s, ` +
    `ratio ${(cached.rps / uncached.rps).toFixed(1)}x (${LOAD_CLIENTS} clients, ${LOAD_SECONDS}s each)`;
  t.diagnostic(line);

  assert.deepEqual(cached.bad, []);
  assert.deepEqual(uncached.bad, []);
  assert.ok(cached.ok > 0 && uncached.ok > 0);
  // Each cached request was a hit, or a miss after its entry expired (2 minutes).
  const hits = s1.hits - s0.hits;
  assert.equal(hits + s1.misses - s0.misses, cached.ok);
  assert.ok(hits >= 0.9 * cached.ok, `only ${hits} hits for ${cached.ok} cached requests`);
});
