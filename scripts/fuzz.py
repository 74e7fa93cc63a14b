#!/usr/bin/python3
"""querycache fuzzer: scripts/fuzz.sh starts the server and runs this.

Runs, until the deadline, against one database that has the demo schema,
querycache and scripts/fuzz_setup.sql:

- sqlsmith, as is (it also calls querycache's functions: they are in the
  catalog), one run after another with new seeds;
- a feeder that has sqlsmith generate queries (--dry-run) and sends each
  through querycache_wrap, twice (a fill, then a hit or a bypass);
- API sessions calling querycache_wrap/get/set/delete/clear_pattern/key/
  fence/watch/unwatch/invalidate_table with random keys, queries, TTLs,
  parameters and patterns, in transactions with savepoints, under random
  roles and settings.  "Steady" ones keep the default settings and no
  temporary objects, so that they share entries (hits of each other's
  fills, single-flight waits); all of them often use a few hot entries;
- writer sessions changing the demo tables and scratch tables (DML, COPY,
  TRUNCATE, DDL, replica mode, prepared transactions);
- pgbench with the extended protocol (psycopg2 only speaks the simple one);
- a chaos thread that cancels (pg_cancel_backend and protocol cancels) and
  terminates random sessions, fill leaders and the sweeper, finishes
  prepared transactions, clears the cache, reloads the configuration and
  now and then drops and recreates the extension.
Writes come in storms that alternate with calm periods, in which nothing
invalidates, so that entries also live long enough to be hit and evicted.

A monitor reads the server log and fails the run on a crash ("terminated by
signal", any "server process ... was terminated" or crash-restart line),
PANIC or failed assertion (TRAP:), or when the postmaster's or the
checkpointer's start time changes (pg_postmaster_start_time alone does not
move on a crash restart).  Sessions still running well past the deadline,
after cancel and terminate, are hangs; a json value the client cannot
parse is corrupt output; after the run, querycache_clear_all() must free
every entry and block, and a repeated wrap must hit.  All of those fail
the run too.  ERRORs are expected.

Each session logs every statement it sends, before sending it, to
RUN_DIR/sessions/NAME.sql (with its backend pid and the outcome), so a
crash can be traced to the statement and the ones before it.  On a failure
everything is copied to FAILURE_BASE/fuzz-failure-<timestamp>/, with core
files and their backtraces and a SUMMARY.txt.

Exit status: 0 if nothing failed, 1 on a failure, 2 on a setup error.
"""

import argparse
import collections
import glob
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback

import psycopg2
import psycopg2.extensions
import psycopg2.extras

# ---------------------------------------------------------------------------
# Shared state

STOP = threading.Event()
CALM = threading.Event()                # set: writers pause, so that entries live long enough to hit
LOCK = threading.Lock()
COUNTS = collections.Counter()          # statements, errors, ...
SQLSTATES = collections.Counter()       # error codes seen by the clients
PIDS = {}                               # backend pid -> session name
SESSIONS = []                           # Session threads
BAD_JSON = []                           # (session, statement, error)
ARGS = None


def count(what, n=1):
    with LOCK:
        COUNTS[what] += n


def now():
    return time.strftime('%H:%M:%S', time.localtime()) + '.%03d' % (int(time.time() * 1000) % 1000)


def dsn(application_name, statement_timeout_ms=5000):
    return ("host=%s port=%s dbname=%s user=%s application_name=%s "
            "options='-c statement_timeout=%d -c lock_timeout=3000 "
            "-c idle_in_transaction_session_timeout=30000'"
            % (os.environ['PGHOST'], os.environ['PGPORT'], ARGS.dbname,
               os.environ.get('PGUSER', 'postgres'), application_name,
               statement_timeout_ms))


# ---------------------------------------------------------------------------
# Corrupt output detection: every json/jsonb value the clients receive is
# parsed (up to 1 MB); a value that is not JSON means the server sent
# garbage (querycache sends stored text for hits, src/output.c).

class BadJson(Exception):
    pass


def checked_loads(s):
    if len(s) > 1000000:
        return None
    try:
        return json.loads(s)
    except RecursionError:
        return None                     # deep but valid nesting
    except ValueError as e:
        raise BadJson('%s: %r' % (e, s[:200]))


psycopg2.extras.register_default_jsonb(globally=True, loads=checked_loads)
psycopg2.extras.register_default_json(globally=True, loads=checked_loads)

# ---------------------------------------------------------------------------
# SQL building blocks


def lit(s):
    """A string literal that means the same under either
    standard_conforming_strings setting."""
    if s is None:
        return 'NULL'
    return "E'" + s.replace('\\', '\\\\').replace("'", "''") + "'"


AGENTS_LIST = (
    "SELECT a.id, a.name, a.email, a.status,\n"
    "       (SELECT count(*) FROM call_campaigns c WHERE c.agent_id = a.id) AS campaigns,\n"
    "       (SELECT count(*) FROM call_queue q JOIN call_campaigns c ON c.id = q.campaign_id "
    "WHERE c.agent_id = a.id) AS queued\n"
    "  FROM agents a WHERE a.user_id = $1 ORDER BY a.id")

# Parameter values by kind (SQL expressions), good ones first.
PARAMS = {
    'user': ['1', '2::bigint', "'3'", '20', '21', "'abc'", 'NULL', '1.5', "'1e3'",
             '99999999999999999999', "'{1}'::int[]", 'true'],
    'agent': ['1', '7::int', "'15'", '199', '-1', "''", 'NULL', "'9223372036854775808'"],
    'campaign': ['1', '42', "'7'", '600', '0', 'NULL::bigint'],
    'status': ["'pending'", "'completed'", "'failed'::text", 'NULL', '1', "'\\x00'::bytea"],
    'small': ['10', '3::smallint', "'50'", '500', '-5', 'NULL', "'ten'"],
    'digit': ['1', '0', "'5'", '9', 'NULL', '1.0', "'1'::jsonb"],
    'like': ["'Contact 1-%'", "'%'", "''", 'NULL', "'\\\\'", "'_'"],
    'any': ['1', "'x'", 'NULL', "'{\"a\": [1, null]}'::jsonb", "ROW(1, 'a')", "'2024-01-01'::date",
            "'NaN'::float8", "'infinity'::timestamptz", "'1 day'::interval", "'(1,2)'::point",
            "'[1,2)'::int4range", "'10.0.0.1'::inet", "'\\xdeadbeef'::bytea", "'agents'::regclass",
            "'a'::\"char\"", "'abc'::name", "'x'::cstring", 'gen_random_uuid()', "'<a>x</a>'::xml",
            "'12.34'::money", "'{1,NULL,3}'::int[]", "ARRAY[ROW(1, 2)]", "'ab'::varchar(1)",
            "repeat('p', 100000)", "(SELECT most_common_vals FROM pg_stats WHERE most_common_vals "
            "IS NOT NULL LIMIT 1)", 'pg_sleep(0)', "'\u00e9\U0001F600'", '1e1000::numeric',
            "'-0'::float8", "'1'::unknown", "txid_current()", "(SELECT a FROM agents a LIMIT 1)",
            "'fat & rat'::tsquery", "B'101'", "'{}'::text[]"],
}

# Valid queries: (text, parameter kinds).  {n} becomes a number, so that
# sessions prepare many different texts (the plan cache holds 256).
VALID = [
    (AGENTS_LIST, ['user']),
    ("SELECT * FROM agents WHERE user_id = $1 ORDER BY id", ['user']),
    ("SELECT id, name, status FROM agents WHERE id = $1", ['agent']),
    ("SELECT count(*) AS n FROM call_queue WHERE campaign_id = $1 AND status = $2", ['campaign', 'status']),
    ("SELECT * FROM fuzz_t WHERE id < $1 ORDER BY id", ['small']),
    ("SELECT * FROM fuzz_part WHERE k = $1 ORDER BY id LIMIT 20", ['digit']),
    ("SELECT id, name FROM contacts WHERE user_id = $1 AND name LIKE $2 ORDER BY id LIMIT 10", ['user', 'like']),
    ("SELECT $1 AS a", ['any']),
    ("SELECT $1 AS a, $2 AS b, $3 AS c", ['any', 'any', 'any']),
    ("SELECT $2 AS only_second", ['any', 'any']),
    ("SELECT * FROM fuzz_srf($1)", ['user']),
    ("SELECT fuzz_stable_read($1) AS n", ['campaign']),
    ("SELECT * FROM fuzz_t WHERE id = {n}", []),
    ("SELECT count(*) AS c, {n} AS tag FROM agents", []),
    ("SELECT * FROM fuzz_v WHERE id % 17 = {n} % 17 ORDER BY id", []),
    ("SELECT * FROM fuzz_mv ORDER BY user_id", []),
    ("SELECT * FROM fuzz_rls ORDER BY id", []),
    ("SELECT * FROM fuzz_unlogged ORDER BY id", []),
    ("SELECT * FROM fuzz_shadow.agents", []),
    ("SELECT * FROM agents WHERE id = 1 /* search_path decides which agents */", []),
    ("SELECT b, ts, f, iv, j FROM fuzz_t WHERE id < {n} % 20 ORDER BY id", []),
    ("TABLE users", []),
    ("VALUES ({n}, 'v'), (2, NULL)", []),
    ("(SELECT {n} AS x)", []),
    ("SELECT 1 AS a UNION ALL SELECT {n}", []),
    ("SELECT 1 AS a, 2 AS a", []),
    ("SELECT", []),
    ("SELECT FROM agents WHERE id < 3", []),
    ("SELECT NULL", []),
    ("SELECT 1 WHERE false", []),
    ("WITH x AS (SELECT * FROM agents WHERE user_id = $1) SELECT count(*) FROM x", ['user']),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {n}) SELECT * FROM r", []),
    ("SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY id) FROM agents WHERE id < {n}", []),
    ("SELECT u.name, count(*) FROM users u JOIN contacts c ON c.user_id = u.id GROUP BY 1 ORDER BY 1", []),
    ("SELECT 'NaN'::float8 AS f, 'Infinity'::float8 AS i, 1e300::numeric * 1e300 AS big", []),
    ("SELECT E'\\u00e9 \U0001F600 \u202e' AS s, 'ключ' AS k", []),
    ("SELECT '<a>x</a>'::xml AS x, '12.3'::money AS m, '(1,2)'::point AS p, 'a b'::tsvector AS t", []),
    ("SELECT now() AS t, clock_timestamp() AS c, random() AS r", []),
    ("SELECT nextval('fuzz_seq') AS s", []),
    ("SELECT txid_current() AS x", []),
    ("SELECT pg_backend_pid() AS p, current_setting('TimeZone') AS tz, current_user AS u", []),
    ("SELECT pg_advisory_xact_lock({n} % 3), 1 AS locked", []),
    ("SELECT pg_notify('fuzz', 'x'), 1 AS notified", []),
    ("SELECT pg_sleep({sleep}), count(*) FROM agents", []),
    ("SELECT count(*) FROM pg_class", []),
    ("SELECT key, valid FROM querycache_entries ORDER BY key LIMIT 3", []),
    ("SELECT entries, hits FROM querycache_stats", []),
    ("SELECT * FROM querycache_ttl", []),
    ("SELECT fuzz_immutable_lie() AS n", []),
    ("SELECT * FROM fuzz_tmp", []),
    ("SELECT g, repeat(md5(g::text), {m}) AS pad FROM generate_series(1, {big}) g", []),
    ("SELECT repeat('x', {near}) AS v", []),
    ("SELECT {deep} AS deep", []),
    ("SELECT count(*) AS n, {n} AS tag FROM fuzz_wide", []),
    ("SELECT * FROM fuzz_w{w} JOIN fuzz_wide USING (id)", []),
]

# Hot entries: fixed (key, query, parameters) that every session uses, so
# that hits, single flight (coalesced waits on a slow fill), eviction by
# count and by memory, and invalidation of live entries all happen.
HOT = [
    ('hot:agents:%d', AGENTS_LIST, ['%d']),
    ('hot:slow', 'SELECT pg_sleep(0.05) AS s, count(*) AS n FROM agents', []),
    ('hot:slower', 'SELECT pg_sleep(0.3) AS s, max(id) AS m FROM call_queue', []),
    ('hot:t', 'SELECT * FROM fuzz_t WHERE id < $1 ORDER BY id', ['100']),
    ('hot:pad', "SELECT g, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 2000) g", []),
    ('hot:near', "SELECT repeat('x', 1048000) AS v", []),
    ('hot:v', 'SELECT * FROM fuzz_v ORDER BY id', []),
    ('hot:rec', "SELECT fuzz_rec(3, 'hotrec') AS r", []),
    ('hot:part', 'SELECT * FROM fuzz_part WHERE k = $1 ORDER BY id', ['3']),
    ('hot:rls', 'SELECT * FROM fuzz_rls ORDER BY id', []),
    ('fz:hot', 'SELECT count(*) AS n FROM fuzz_t', []),
    ('hot:agent:%d', 'SELECT id, name, status FROM agents WHERE id = $1', ['%d']),
    ('hot:big:%d', "SELECT g, %d AS i, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 2000) g", []),
    ('hot:wide', 'SELECT count(*) AS n, sum(id) AS s FROM fuzz_wide', []),
    ('wide:hot', 'SELECT id FROM fuzz_w21', []),
]

# Queries that must be refused, or fail.
INVALID = [
    '', ' ', ';', ';;', '-- only a comment', '/* unterminated', 'SELEC 1', 'SELECT 1; SELECT 2',
    'SELECT 1;', 'SELECT 1 ;  ; ', 'SELECT (', "SELECT 'unterminated", 'SELECT $0', 'SELECT $1',
    'SELECT $2', 'SELECT $1::int + $3', 'SELECT $100000', 'SELECT $2147483648', 'SELECT * FROM nonexistent',
    'SELECT 1/0', "SELECT repeat('x', -1)", '\u00a0SELECT 1', 'SELECT 1 \\', 'SELECT $1 FROM $2',
    'INSERT INTO fuzz_t (id) VALUES (-1)', 'UPDATE agents SET status = status WHERE false',
    'DELETE FROM fuzz_t WHERE false', 'TRUNCATE fuzz_unlogged', 'CREATE TABLE fuzz_never ()',
    'DROP TABLE fuzz_t', 'MERGE INTO fuzz_t t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DO NOTHING',
    'WITH d AS (DELETE FROM fuzz_t WHERE false RETURNING *) SELECT * FROM d',
    'WITH a AS (SELECT 1), b AS (UPDATE fuzz_t SET v = v WHERE false RETURNING 1) SELECT * FROM a',
    'SELECT * FROM agents FOR UPDATE', 'SELECT * FROM (SELECT * FROM agents FOR SHARE) s',
    'SELECT * FROM agents WHERE id IN (SELECT id FROM agents FOR KEY SHARE)',
    'SELECT * FROM agents FOR UPDATE SKIP LOCKED', 'SELECT * FROM agents a, LATERAL (SELECT * FROM fuzz_t FOR NO KEY UPDATE) x',
    'WITH x AS (SELECT * FROM agents FOR UPDATE) SELECT 1', 'SELECT 1 INTO fuzz_into', 'SELECT * INTO TEMP fuzz_into2 FROM agents',
    'EXPLAIN SELECT 1', 'EXPLAIN ANALYZE DELETE FROM fuzz_t WHERE false', 'COPY fuzz_t TO STDOUT',
    'DO $$BEGIN END$$', 'CALL nothing()', 'VACUUM', 'LOCK agents', 'SET search_path = pg_catalog', 'BEGIN',
    'COMMIT', 'ROLLBACK', 'PREPARE p AS SELECT 1', 'EXECUTE p', 'LISTEN x', 'SHOW ALL',
    'DECLARE c CURSOR FOR SELECT 1', 'SELECT fuzz_raise(\'inside\')', 'SELECT 1 FROM fuzz_write_t(-7)',
    'SELECT fuzz_write(5)', 'SELECT fuzz_ddl_in_fill()', "SELECT fuzz_set_guc('search_path', 'pg_catalog')",
    "SELECT fuzz_set_guc('querycache.enabled', 'off')", "SELECT fuzz_set_guc('TimeZone', 'Asia/Kathmandu')",
    "SELECT fuzz_set_guc('statement_timeout', '1')", "SELECT fuzz_set_guc('role', 'fuzz_user')",
    "SELECT fuzz_clear_in_fill('^k:')", "SELECT fuzz_clear_in_fill('(')", "SELECT fuzz_delete_in_fill('k:1')",
    "SELECT fuzz_set_in_fill('k:2')", "SELECT fuzz_inval_in_fill('agents')", "SELECT fuzz_inval_in_fill('fuzz_t')",
    "SELECT querycache_clear_all()", "SELECT querycache_watch('fuzz_t')", "SELECT querycache_fence() AS f",
    "SELECT querycache_get('k:1') AS g", "SELECT querycache_stats_reset()",
    'SELECT ' + '(' * 3000 + '1' + ')' * 3000,
    'SELECT ' + ' + '.join(['1'] * 20000),
]

REGEXES = ['^k:', '.*', '', '^fz:', 'agents', '^agents:list', '(', '[', '*', '\\', 'a{1000}', 'a{1,2}{3}',
           '(a|b)*c', '(a*)*b', '(a)\\1', '[[:alpha:]]+', '[[:nonsense:]]', '\\d\\w\\s', '(?i)K:1',
           '***:x', '(?=x)', '^\u00e9', '\U0001F600', '$^', '((((((((((x))))))))))', '[^\\x00-\\x7f]',
           '(a|aa)+$', '.{0,255}', 'x' * 300, '(' * 100 + ')' * 100, '[a-\\uffff]', '\\', '\\Z', None]


class Gen:
    """Random statements for one session."""

    def __init__(self, rng, name, steady=False):
        self.r = rng
        self.name = name
        # A steady session keeps the default settings and has no temporary
        # objects, so its entries are shared with the other steady sessions
        # and the feeder (single flight, coalesced waits, hits of others' fills).
        self.steady = steady
        self.prepared = False
        self.cursor_n = 0
        self.gid_n = 0

    def pick(self, weighted):
        """weighted: list of (weight, value or callable)."""
        total = sum(w for w, _ in weighted)
        x = self.r.uniform(0, total)
        for w, v in weighted:
            x -= w
            if x <= 0:
                return v() if callable(v) else v
        v = weighted[-1][1]
        return v() if callable(v) else v

    def n(self, hi=1000):
        return self.r.randint(0, hi)

    # -- keys (SQL expressions) --
    def key(self):
        r = self.r
        return self.pick([
            (30, lambda: lit('k:%d' % r.randint(0, 30))),
            (10, lambda: lit('fz:%d' % r.randint(0, 10))),
            (4, lambda: lit('fz:short:%d' % r.randint(0, 5))),
            (4, lambda: lit('agents:list:userId=%d' % r.randint(1, 3))),
            (3, lambda: lit('%s:%d' % (self.name, r.randint(0, 1000)))),
            (2, lambda: lit('wide:%d' % r.randint(0, 5))),
            (2, "''"), (2, 'NULL'),
            (1, lit('x' * 256)), (1, lit('x' * 257)), (1, lit('\u00e9' * 128)), (1, lit('\u00e9' * 129)),
            (1, lit('\U0001F600' * 64)), (1, lit('\U0001F600' * 65)), (1, lambda: lit('L' * r.choice([300, 5000, 100000]))),
            (3, lambda: lit(r.choice(['ключ:1', '键', 'k\u0301', '\u202ek', 'a\u200bb', '\t', ' ', 'k\n1']))),
            (2, lambda: lit(r.choice(['k.*+?[(', '^k:1$', 'k\\1', "k'1", 'k\\', '%', '_']))),
            (4, lambda: 'querycache_key(%s, %s)' % (lit(r.choice(['k', 'agents:list', 'fz', '', 'a=b:c\\'])), self.keyparams())),
            (1, lambda: "(SELECT 'k:' || max(id) % 30 FROM agents)"),
        ])

    def keyparams(self):
        return self.r.choice([
            "'{}'", 'NULL', "'[]'", "'1'", "'\"s\"'", "'{\"userId\": 1}'", "'{\"userId\": \"1\"}'",
            "'{\"a\": {\"b\": [1, 2]}, \"c\": null}'", "'{\"\": \"\"}'", "'{\"a:b=c\\\\\": \"x:y=z\\\\\"}'",
            "'{\"k\": \"\u00e9\U0001F600\"}'", "'{\"n\": 1e1000}'", "'{\"t\": true, \"f\": \"false\"}'",
            "jsonb_build_object('x', repeat('v', 300))"])

    # -- TTLs --
    def ttl(self):
        if self.r.random() < 0.6:
            return self.r.choice(['NULL', "interval '1 second'", "interval '3 seconds'", "interval '2 minutes'"])
        return self.r.choice([
            'NULL', 'NULL', "interval '1 second'", "interval '2 minutes'", "'0'", "'-1 day'",
            "'1 microsecond'", "'100 years'", "'101 years'", "'1000000 years'", "'178000000 years'",
            "'-178000000 years'", "'1 mon -30 days'", "'12001 mons'", "'2147483647 days'",
            "'9223372036 seconds'", "'P1Y'", "interval '1 day' * 1e6", "'00:00:00.5'", "make_interval(secs => 1e12)"])

    # -- queries (SQL text, not yet quoted) and their parameters --
    def fill_template(self, text):
        r = self.r
        return (text.replace('{n}', str(self.n()))
                .replace('{sleep}', r.choice(['0', '0.01', '0.05', '0.2']))
                .replace('{m}', str(r.choice([1, 4, 20])))
                .replace('{big}', str(r.choice([10, 1000, 5000, 20000, 100000])))
                .replace('{near}', str(r.choice([1048576 - 20, 1048576 - 5, 1048576, 1048576 + 1, 500000, 4000000])))
                .replace('{w}', str(r.randint(1, 70)))
                .replace('{deep}', self.deep_json()))

    def deep_json(self):
        d = self.r.choice([10, 100, 1000, 3000])
        return 'jsonb_build_array(' * d + '1' + ')' * d

    def params(self, kinds):
        """Parameter expressions for kinds, sometimes wrong in number."""
        r = self.r
        ps = [r.choice(PARAMS[k][:4]) if r.random() < 0.7 else r.choice(PARAMS[k]) for k in kinds]
        x = r.random()
        if x < 0.08:
            ps = ps[:-1]
        elif x < 0.16:
            ps.append(r.choice(PARAMS['any']))
        elif x < 0.2:
            ps = [r.choice(PARAMS['any']) for _ in range(r.randint(1, 6))]
        return ps

    def query(self):
        """(query SQL text or None, parameter expressions)."""
        r = self.r
        x = r.random()
        if x < 0.55:
            text, kinds = r.choice(VALID)
            return self.fill_template(text), self.params(kinds)
        if x < 0.75:
            return self.nested_query(), []
        if x < 0.9:
            return self.invalid(), r.choice([[], [], ['1'], ["'x'", 'NULL']])
        if x < 0.95:
            text, kinds = r.choice(VALID)
            return self.mutate(self.fill_template(text)), self.params(kinds)
        return None, []

    def invalid(self):
        while True:
            q = self.r.choice(INVALID)
            if not self.steady or not any(x in q for x in ('fuzz_set_guc', 'fuzz_ddl_in_fill', 'TEMP')):
                return q

    def nested_query(self):
        r = self.r
        k = lambda: lit('k:%d' % r.randint(0, 30))
        inner = lambda: lit(self.fill_template(r.choice(VALID)[0]) if r.random() < 0.8 else self.invalid())
        return self.pick([
            (5, lambda: 'SELECT fuzz_wrap(%s, %s) AS w' % (k(), inner())),
            (3, lambda: 'SELECT fuzz_wrap_p(%s, %s, %d) AS w' % (k(), lit('SELECT * FROM agents WHERE id = $1'), r.randint(-1, 200))),
            (4, lambda: 'SELECT fuzz_wrap_catch(%s, %s) AS w' % (k(), inner())),
            (3, lambda: "SELECT fuzz_rec(%d, %s) AS w" % (r.choice([1, 2, 5, 20, 60, 500]), lit('%s:rec:%d' % (self.name, self.n(50))))),
            (3, lambda: "SELECT fuzz_rec_fail(%d, %s) AS w" % (r.choice([1, 2, 3, 6, 11]), lit('rf:%d' % self.n(20)))),
            (2, lambda: 'SELECT fuzz_par_wrap(%s, %s) AS w FROM agents WHERE id < 3' % (k(), inner())),
            (2, lambda: 'SELECT fuzz_secdef_wrap(%s, %s) AS w' % (k(), inner())),
            (3, lambda: 'SELECT querycache_wrap(%s, %s) AS w' % (k(), inner())),
            (2, lambda: "SELECT querycache_wrap('k:' || g, %s) AS w FROM generate_series(1, %d) g" % (inner(), r.choice([2, 5, 40]))),
            (2, lambda: 'SELECT querycache_get(%s) AS g' % k()),
            (1, lambda: 'SELECT fuzz_wrap(%s, %s) AS a, fuzz_wrap(%s, %s) AS b' % (k(), inner(), k(), inner())),
            (1, lambda: "SELECT fuzz_many(%d, %s) AS n" % (r.choice([10, 300]), lit('%s:%d' % (self.name, self.n())))),
            (1, lambda: "SELECT fuzz_many(300, %s) AS n, fuzz_rec(5, %s) AS r" % (lit(str(self.n())), lit('mr:%d' % self.n(20)))),
        ])

    def mutate(self, q):
        r = self.r
        q = list(q)
        for _ in range(r.randint(1, 4)):
            if not q:
                break
            i = r.randrange(len(q))
            op = r.random()
            if op < 0.4:
                del q[i]
            elif op < 0.7:
                q.insert(i, r.choice(['(', ')', "'", '$', ';', ',', ' ', '$1', '::', 'SELECT ', '\u00e9', '\\']))
            else:
                q[i:i] = q[i:i + r.randint(1, 20)]
        return ''.join(q)

    def hot(self):
        """(key, query, parameters) of a hot entry."""
        key, q, ps = self.r.choice(HOT)
        i = self.r.randint(1, 3) if 'agents' in key else self.r.randint(1, 8) if 'big' in key else self.r.randint(1, 199)
        sub = lambda x: x.replace('%d', str(i))
        return sub(key), sub(q), [sub(p) for p in ps]

    # -- querycache_wrap calls --
    def wrap_call(self):
        r = self.r
        if r.random() < (0.75 if self.steady else 0.35):
            k, q, ps = self.hot()
            return 'querycache_wrap(%s, %s, NULL%s)' % (lit(k), lit(q), ''.join(', ' + p for p in ps))
        q, ps = self.query()
        qs = lit(q) if q is not None else 'NULL'
        k = self.key()
        form = r.random()
        if form < 0.2 and not ps:
            call = 'querycache_wrap(%s, %s)' % (k, qs)
        elif form < 0.35 and not ps:
            call = 'querycache_wrap(%s, %s, %s)' % (k, qs, self.ttl())
        elif form < 0.9:
            call = 'querycache_wrap(%s, %s, %s%s)' % (k, qs, self.ttl(), ''.join(', ' + p for p in ps))
        else:
            call = 'querycache_wrap(%s, %s, %s, VARIADIC %s)' % (k, qs, self.ttl(), r.choice([
                'ARRAY[%s]' % ', '.join(ps or ['1']), "ARRAY['1', '2']", 'NULL::int[]', "'{}'::text[]",
                'ARRAY[NULL]::text[]', 'ARRAY[ARRAY[1, 2], ARRAY[3, 4]]', "'[2:3]={1,2}'::int[]",
                'ARRAY[ROW(1, 2)]', '(SELECT array_agg(id) FROM agents WHERE user_id = 1)',
                'ARRAY(SELECT g FROM generate_series(1, 200) g)', 'ARRAY(SELECT g FROM generate_series(1, 70000) g)',
                "ARRAY['a']::\"char\"[]", "ARRAY['1']::unknown[]"]))
        return call

    def wrap_stmt(self):
        r = self.r
        c = self.wrap_call()
        return self.pick([
            (40, 'SELECT %s' % c),
            (4, 'SELECT %s -> 0' % c),
            (3, 'SELECT %s, 1' % c),
            (3, 'SELECT %s FROM generate_series(1, 3)' % c),
            (2, 'SELECT jsonb_array_length(%s)' % c),
            (2, 'SELECT * FROM jsonb_array_elements(%s) LIMIT 3' % c),
            (2, 'SELECT %s FROM agents WHERE id < 5' % c),
            (2, 'SELECT (SELECT %s)' % c),
            (2, 'SELECT %s ORDER BY 1' % c),
            (2, 'SELECT %s LIMIT 1' % c),
            (2, 'SELECT DISTINCT %s' % c),
            (2, 'SELECT %s::text' % c),
            (2, 'SELECT %s WHERE random() < 0.5' % c),
            (2, 'SELECT %s UNION ALL SELECT %s' % (c, self.wrap_call())),
            (2, 'SELECT %s; SELECT %s' % (c, self.wrap_call())),
            (2, 'EXPLAIN (ANALYZE, COSTS OFF) SELECT %s' % c),
            (2, ('copy_out', 'COPY (SELECT %s) TO STDOUT' % c)),
            (1, ('copy_out', 'COPY (SELECT %s) TO STDOUT (FORMAT binary)' % c)),
            (0 if self.steady else 2, 'CREATE TEMP TABLE IF NOT EXISTS fuzz_tmp_ctas AS SELECT %s AS j' % c),
            (self.unless_calm(2), 'INSERT INTO fuzz_t (id, j) SELECT %d, %s ON CONFLICT (id) DO UPDATE SET j = excluded.j' % (self.n(600), c)),
            (3, "DO $fz$ BEGIN PERFORM %s; EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%%', SQLERRM; END $fz$" % c),
            (2, "DO $fz$ DECLARE r jsonb; BEGIN FOR i IN 1..%d LOOP BEGIN r := querycache_wrap('k:' || i %% 7, "
                "'SELECT id, name FROM agents WHERE id = ' || i); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END $fz$"
                % r.choice([3, 20, 300])),
            (2, lambda: self.prepared_stmt(c)),
            (3, lambda: self.cursor_script(c)),
        ])

    def prepared_stmt(self, c):
        self.prepared = True
        return ['DEALLOCATE ALL', 'PREPARE fz_p(text, text) AS SELECT querycache_wrap($1, $2)',
                'EXECUTE fz_p(%s, %s)' % (self.key(), lit(self.fill_template(self.r.choice(VALID)[0]))),
                'EXECUTE fz_p(%s, %s)' % (self.key(), lit(self.fill_template(self.r.choice(VALID)[0])))]

    def cursor_script(self, c):
        self.cursor_n += 1
        name = 'fz_c%d' % self.cursor_n
        kind = self.r.choice(['CURSOR', 'BINARY CURSOR', 'SCROLL CURSOR', 'CURSOR WITH HOLD'])
        # a binary cursor's values are not JSON text: fetch them unparsed
        op = 'nofetch' if 'BINARY' in kind else 'sql'
        body = ['DECLARE %s %s FOR SELECT %s FROM generate_series(1, 3)' % (name, kind, c),
                (op, 'FETCH 1 FROM %s' % name), (op, 'FETCH ALL FROM %s' % name), 'CLOSE %s' % name]
        if 'HOLD' in kind:
            return body
        return ['BEGIN'] + body + ['COMMIT']

    # -- the other API functions --
    def jsonval(self):
        return self.r.choice([
            "'{}'", "'[]'", "'null'", 'NULL', "'\"s\"'", "'{\"a\": [1, 2, {\"b\": null}]}'",
            "to_jsonb(repeat('x', %d))" % self.r.choice([10, 1000, 1048000, 1048576, 3000000]),
            '(SELECT jsonb_agg(a) FROM agents a)', '(SELECT jsonb_agg(c) FROM contacts c)',
            self.deep_json(), "'{\"n\": 1e1000}'", "'\"\u00e9\U0001F600\"'", "'[\"\\\\u0000x\"]'"])

    def unless_calm(self, weight):
        """Statements that invalidate entries wait for the next storm."""
        return 0 if CALM.is_set() else weight

    def api_stmt(self):
        r = self.r
        return self.pick([
            (10, lambda: 'SELECT querycache_get(%s)' % self.key()),
            (10, lambda: 'SELECT querycache_get(%s)' % lit(self.hot()[0])),
            (2, lambda: 'SELECT querycache_get(%s) -> 0' % self.key()),
            (2, lambda: "SELECT querycache_get('k:' || g) FROM generate_series(0, 30) g"),
            (8, lambda: 'SELECT querycache_set(%s, %s, %s)' % (self.key(), self.jsonval(), self.ttl())),
            (2, lambda: 'SELECT querycache_set(%s, %s)' % (self.key(), self.jsonval())),
            (4, lambda: 'SELECT querycache_set(%s, %s, %s, %s)' % (self.key(), self.jsonval(), self.ttl(), r.choice([
                'querycache_fence()', '0', '-1', '9223372036854775807', 'NULL', 'querycache_fence() + 1000',
                'querycache_fence() - 1']))),
            (3, 'SELECT querycache_fence()'),
            (6, lambda: 'SELECT querycache_delete(%s)' % self.key()),
            (5, lambda: 'SELECT querycache_clear_pattern(%s)' % lit(r.choice(REGEXES))),
            (3, lambda: 'SELECT querycache_key(%s, %s)' % (lit(r.choice(['agents:list', 'k', '', 'a\\b=c', '\u00e9'])), self.keyparams())),
            (1, "SELECT querycache_key(NULL, NULL)"),
            (self.unless_calm(3), lambda: 'SELECT querycache_invalidate_table(%s)' % self.table()),
            (self.unless_calm(2), lambda: 'SELECT querycache_watch(%s, %s)' % (self.table(), lit(r.choice(REGEXES)))),
            (self.unless_calm(1), lambda: 'SELECT querycache_watch(%s)' % self.table()),
            (self.unless_calm(1), lambda: 'SELECT querycache_unwatch(%s)' % self.table()),
            (self.unless_calm(1), "SELECT querycache_watch('fuzz_t', '^fz:')"),
            (self.unless_calm(1), "SELECT querycache_watch_defaults()"),
            (self.unless_calm(0.3), "SELECT querycache_apply_schema()"),
            (self.unless_calm(1), lambda: 'SELECT querycache_rule_set(%s, %s, %s)' % (self.table(), lit(r.choice(REGEXES)), r.choice(['true', 'false', 'NULL']))),
            (2, 'SELECT * FROM querycache_stats'),
            (2, 'SELECT * FROM querycache_entries ORDER BY key LIMIT 5'),
            (1, 'SELECT count(*), sum(bytes) FROM querycache_entries()'),
            (self.unless_calm(0.5), 'SELECT querycache_clear_all()'),
            (0.5, 'SELECT querycache_stats_reset()'),
            (0.5, 'SELECT querycache_invalidate_trigger()'),
            (1, lambda: r.choice(["SELECT fuzz_par_get('k:1') FROM agents WHERE id < 3", "SELECT fuzz_par_set('k:2')",
                                  "SELECT fuzz_par_clear('^k:2$')", "SELECT count(*) FROM agents WHERE fuzz_par_get('k:1') IS NULL"])),
            (self.unless_calm(0.5), "SELECT fuzz_par_inval('fuzz_t')"),
            (self.unless_calm(1), lambda: 'INSERT INTO querycache_ttl VALUES (%s, %s) ON CONFLICT (pattern) DO UPDATE SET ttl = excluded.ttl'
                % (lit(r.choice(REGEXES)), self.ttl())),
            (self.unless_calm(1), lambda: 'DELETE FROM querycache_ttl WHERE pattern = %s' % lit(r.choice(REGEXES))),
            (self.unless_calm(1), lambda: 'INSERT INTO querycache_rules VALUES (%s, %s) ON CONFLICT DO NOTHING' % (self.table(), lit(r.choice(REGEXES)))),
            (self.unless_calm(0.5), lambda: 'DELETE FROM querycache_rules WHERE pattern = %s' % lit(r.choice(REGEXES))),
        ])

    def table(self):
        return self.r.choice([
            "'fuzz_t'", "'agents'", "'call_queue'", "'fuzz_v'", "'fuzz_mv'", "'fuzz_seq'", "'pg_class'",
            "'fuzz_part'", "'fuzz_part_1'", 'NULL', '0', '12345', "'fuzz_tmp'", "'fuzz_shadow.agents'",
            "'querycache_rules'", "'querycache_ttl'", "'fuzz_unlogged'", "'fuzz_rls'", "'users'"])

    # -- session state --
    def setting_stmt(self):
        r = self.r
        return self.pick([
            (3, lambda: 'SET bytea_output = %s' % r.choice(['hex', 'escape'])),
            (3, lambda: 'SET TimeZone = %s' % lit(r.choice(['UTC', 'America/New_York', 'Asia/Kathmandu', '+05:45', 'Nowhere/Else', 'PST8PDT']))),
            (4, lambda: 'SET search_path = %s' % r.choice(['public', 'pg_catalog', '"$user", public', 'nonexistent',
                                                        'fuzz_shadow, public', 'public, fuzz_shadow', "''"])),
            (2, lambda: 'SET DateStyle = %s' % lit(r.choice(['ISO, MDY', 'SQL, DMY', 'German', 'Postgres, YMD']))),
            (2, lambda: 'SET IntervalStyle = %s' % r.choice(['postgres', 'iso_8601', 'sql_standard', 'postgres_verbose'])),
            (2, lambda: 'SET extra_float_digits = %d' % r.randint(-15, 3)),
            (1, lambda: 'SET standard_conforming_strings = %s' % r.choice(['on', 'off'])),
            (3, lambda: 'SET querycache.enabled = %s' % r.choice(['on', 'on', 'off'])),
            (2, lambda: 'SET querycache.lock_timeout = %s' % r.choice(['0', '1', '100', '10000'])),
            (1, lambda: 'SET querycache.default_ttl = %s' % lit(r.choice(['1s', '2min', '0', '-1', '100 years', 'x']))),
            (1, lambda: 'SET querycache.max_entry_size = %s' % lit(r.choice(['1kB', '1MB', '100MB', '2GB', '0']))),
            (1, lambda: 'SET querycache.store_text = %s' % r.choice(['on', 'off'])),
            (1, lambda: 'SET querycache.cache_rls = %s' % r.choice(['on', 'off'])),
            (1, 'SET querycache.nonexistent = 1'),
            (3, lambda: 'SET statement_timeout = %s' % lit(r.choice(['1ms', '10ms', '50ms', '200ms', '1s', '3s', '5s']))),
            (1, lambda: 'SET client_min_messages = %s' % r.choice(['debug2', 'notice', 'warning'])),
            (1, lambda: 'SET force_parallel_mode = %s' % r.choice(['on', 'off', 'regress'])),
            (1, ['SET parallel_setup_cost = 0', 'SET parallel_tuple_cost = 0', 'SET min_parallel_table_scan_size = 0']),
            (1, lambda: ['SET jit = on', 'SET jit_above_cost = 0'] if r.random() < 0.5 else 'SET jit = off'),
            (1, lambda: 'SET default_transaction_isolation = %s' % lit(r.choice(['read committed', 'repeatable read', 'serializable']))),
            (1, lambda: 'SET default_transaction_read_only = %s' % r.choice(['on', 'off'])),
            (1, lambda: 'SET session_replication_role = %s' % r.choice(['replica', 'origin'])),
            (1, lambda: 'SET plan_cache_mode = %s' % r.choice(['force_generic_plan', 'force_custom_plan', 'auto'])),
            (1, lambda: 'SET transform_null_equals = %s' % r.choice(['on', 'off'])),
            (1, lambda: 'SET max_stack_depth = %s' % lit(r.choice(['100kB', '2MB']))),
            (1, lambda: 'SET work_mem = %s' % lit(r.choice(['64kB', '4MB']))),
            (1, lambda: 'SET default_text_search_config = %s' % lit(r.choice(['simple', 'english']))),
            (1, lambda: ('encoding', r.choice(['LATIN1', 'UTF8', 'UTF8', 'SQL_ASCII', 'EUC_JP', 'WIN1251']))),
            (2, 'RESET ALL'),
            (1, lambda: r.choice(['DISCARD ALL', 'DISCARD PLANS', 'DISCARD TEMP'])),
            (1, 'CREATE TEMP TABLE IF NOT EXISTS fuzz_tmp AS SELECT * FROM agents LIMIT 5'),
            (1, 'DROP TABLE IF EXISTS fuzz_tmp'),
        ])

    def steady_setting_stmt(self):
        """Settings that are not part of an entry's identity."""
        r = self.r
        return self.pick([
            (3, lambda: 'SET querycache.lock_timeout = %s' % r.choice(['0', '1', '20', '100', '10000'])),
            (2, lambda: 'SET statement_timeout = %s' % lit(r.choice(['10ms', '60ms', '200ms', '1s', '5s']))),
            (1, lambda: 'SET querycache.enabled = %s' % r.choice(['on', 'off'])),
            (1, lambda: 'SET client_min_messages = %s' % r.choice(['debug2', 'notice'])),
            (2, 'RESET ALL'),
        ])

    def role_stmt(self):
        return self.r.choice(['SET ROLE fuzz_user', 'RESET ROLE', 'RESET ROLE', 'SET SESSION AUTHORIZATION fuzz_user',
                              'RESET SESSION AUTHORIZATION', 'SET ROLE fuzz_owner', 'SET ROLE postgres',
                              'SET ROLE pg_read_all_stats'])

    # -- writes --
    def write_stmt(self):
        r = self.r
        u = r.randint(1, 20)
        return self.pick([
            (8, lambda: "UPDATE agents SET status = %s WHERE id = %d" % (lit(r.choice(['active', 'paused', 'offline'])), r.randint(1, 200))),
            (3, lambda: "UPDATE agents SET name = name WHERE user_id = %d" % u),
            (4, lambda: "INSERT INTO contacts (user_id, name, phone) VALUES (%d, 'fz', '+1')" % u),
            (3, "DELETE FROM contacts WHERE id = (SELECT max(id) FROM contacts WHERE name = 'fz')"),
            (4, lambda: "INSERT INTO call_queue (campaign_id, contact_id) VALUES (%d, %d) "
                        "ON CONFLICT ON CONSTRAINT call_queue_campaign_contact_unique DO NOTHING"
                        % (r.randint(1, 600), r.randint(1, 20000))),
            (4, lambda: "UPDATE call_queue SET attempts = attempts + 1 WHERE campaign_id = %d" % r.randint(1, 600)),
            (1, lambda: "DELETE FROM call_queue WHERE id = %d" % r.randint(1, 60000)),
            (6, lambda: "INSERT INTO fuzz_t (id, v) VALUES (%d, 'x') ON CONFLICT (id) DO UPDATE SET v = excluded.v" % self.n(600)),
            (3, lambda: "DELETE FROM fuzz_t WHERE id = %d" % self.n(600)),
            (3, lambda: "MERGE INTO fuzz_t t USING (SELECT %d AS id) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 'm' "
                        "WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, 'm')" % self.n(600)),
            (2, ['TRUNCATE fuzz_unlogged', "INSERT INTO fuzz_unlogged SELECT g, 'u' || g FROM generate_series(1, 50) g"]),
            (0.5, ['TRUNCATE fuzz_t', "INSERT INTO fuzz_t (id, v) SELECT g, 'v' || g FROM generate_series(1, 500) g"]),
            (2, lambda: ('copy_in', 'COPY fuzz_unlogged FROM STDIN', ''.join('%d\tc%d\n' % (i, i) for i in range(r.randint(1, 30))))),
            (1, ('copy_in', 'COPY fuzz_unlogged FROM STDIN', '1\tbad\tcolumns\n')),
            (1, 'REFRESH MATERIALIZED VIEW fuzz_mv'),
            (2, lambda: "UPDATE fuzz_part SET id = id + %d WHERE id = %d" % (r.choice([0, 500, -500]), self.n(999))),
            (2, lambda: "INSERT INTO fuzz_rls (id, v) VALUES (%d, 'x')" % self.n()),
            (1, lambda: "UPDATE users SET name = name WHERE id = %d" % u),
            (2, "SELECT querycache_invalidate_table('agents')"),
            (1, lambda: "SELECT fuzz_write_wide(%d)" % r.choice([5, 63, 64, 65, 70])),
            (1, lambda: "UPDATE fuzz_w%d SET id = id" % r.randint(1, 70)),
            (1, lambda: ['SET session_replication_role = replica', "UPDATE fuzz_t SET v = 'r' WHERE id = %d" % self.n(500),
                         'RESET session_replication_role']),
            (1, lambda: "UPDATE fuzz_t SET j = %s WHERE id = %d" % (self.jsonval(), self.n(500))),
        ])

    def ddl_stmt(self):
        r = self.r
        m = self.n(50)
        return self.pick([
            (2, 'ALTER TABLE fuzz_t ADD COLUMN IF NOT EXISTS extra int'),
            (2, 'ALTER TABLE fuzz_t DROP COLUMN IF EXISTS extra'),
            (1, 'CREATE INDEX IF NOT EXISTS fuzz_t_v ON fuzz_t (v)'),
            (1, 'DROP INDEX IF EXISTS fuzz_t_v'),
            (1, 'GRANT SELECT ON fuzz_t TO fuzz_user'),
            (1, 'REVOKE SELECT ON fuzz_t FROM fuzz_user'),
            (1, lambda: 'ALTER TABLE fuzz_rls %s ROW LEVEL SECURITY' % r.choice(['ENABLE', 'DISABLE'])),
            (1, 'CREATE OR REPLACE VIEW fuzz_v2 AS SELECT id, v FROM fuzz_t WHERE id < 10'),
            (1, 'DROP VIEW IF EXISTS fuzz_v2'),
            (2, lambda: ['CREATE TABLE IF NOT EXISTS fuzz_new_%d (x int)' % m,
                         "SELECT querycache_watch('fuzz_new_%d', '^new:')" % m,
                         "SELECT querycache_wrap('new:%d', 'SELECT * FROM fuzz_new_%d')" % (m, m),
                         'DROP TABLE fuzz_new_%d' % m]),
            (1, lambda: 'ALTER FUNCTION fuzz_stable_read(bigint) %s' % r.choice(['VOLATILE', 'STABLE', 'IMMUTABLE'])),
            (1, "CREATE OR REPLACE FUNCTION fuzz_immutable_lie() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT count(*) FROM agents $$"),
            (1, 'VACUUM fuzz_t'),
            (1, 'ANALYZE agents'),
            (0.5, 'ALTER TABLE fuzz_t ALTER COLUMN v TYPE varchar(100)'),
            (0.5, 'ALTER TABLE fuzz_t ALTER COLUMN v TYPE text'),
            (1, lambda: 'ALTER ROLE fuzz_user SET work_mem = %s' % lit(r.choice(['1MB', '2MB']))),
            (1, lambda: ['CREATE ROLE fuzz_tmp_role_%d' % m, 'DROP ROLE fuzz_tmp_role_%d' % m]),
            (1, "COMMENT ON TABLE fuzz_t IS 'fuzzed'"),
            (1, ['BEGIN', 'ALTER TABLE fuzz_unlogged RENAME TO fuzz_unlogged2',
                 "SELECT querycache_wrap('k:ren', 'SELECT count(*) FROM fuzz_unlogged2')",
                 'ALTER TABLE fuzz_unlogged2 RENAME TO fuzz_unlogged', 'COMMIT']),
            (1, ['BEGIN', 'LOCK TABLE agents IN ACCESS EXCLUSIVE MODE', 'SELECT pg_sleep(0.05)', 'COMMIT']),
            (0.5, 'CREATE EXTENSION IF NOT EXISTS querycache'),
            (0.5, 'ALTER EXTENSION querycache UPDATE'),
        ])

    # -- transactions --
    def txn_script(self, kind):
        r = self.r
        begin = r.choice(['BEGIN', 'BEGIN', 'BEGIN ISOLATION LEVEL REPEATABLE READ', 'BEGIN ISOLATION LEVEL SERIALIZABLE',
                          'BEGIN READ ONLY', 'START TRANSACTION ISOLATION LEVEL READ COMMITTED'])
        out = [begin]
        sp = 0
        for _ in range(r.randint(1, 8)):
            x = r.random()
            if x < 0.15:
                sp += 1
                out.append('SAVEPOINT s%d' % sp)
            elif x < 0.25 and sp:
                out.append(r.choice(['ROLLBACK TO SAVEPOINT s%d' % r.randint(1, sp), 'RELEASE SAVEPOINT s%d' % r.randint(1, sp)]))
            elif x < 0.3:
                out.append(r.choice(['SET LOCAL ROLE fuzz_user', 'SET LOCAL search_path = fuzz_shadow, public',
                                     'SET LOCAL querycache.enabled = off', "SET LOCAL TimeZone = 'Asia/Tokyo'",
                                     "SET LOCAL statement_timeout = '100ms'"]))
            elif x < (0.55 if kind == 'api' else 0.75):
                out.extend(as_list(self.write_stmt()))
            elif x < 0.85:
                out.extend(as_list(self.wrap_stmt()))
            else:
                out.extend(as_list(self.api_stmt()))
        end = r.random()
        if end < 0.5:
            out.append('COMMIT')
        elif end < 0.85:
            out.append('ROLLBACK')
        else:
            self.gid_n += 1
            gid = '%s-%d' % (self.name, self.gid_n)
            out.append("PREPARE TRANSACTION '%s'" % gid)
            if r.random() < 0.6:        # else the chaos thread finishes it
                out.append("%s PREPARED '%s'" % (r.choice(['COMMIT', 'ROLLBACK']), gid))
        return out

    def script(self, kind):
        r = self.r
        calm = CALM.is_set()
        if kind == 'steady':
            item = self.pick([
                (60, self.wrap_stmt), (30, self.api_stmt), (4, self.steady_setting_stmt),
                (0 if calm else 4, lambda: self.txn_script('api')), (0 if calm else 2, self.write_stmt)])
        elif kind == 'api':
            item = self.pick([
                (45, self.wrap_stmt), (25, self.api_stmt), (8, self.setting_stmt), (3, self.role_stmt),
                (0 if calm else 8, lambda: self.txn_script('api')), (0 if calm else 3, self.write_stmt),
                (0 if calm else 1, self.ddl_stmt)])
        else:
            item = self.pick([
                (50, self.write_stmt), (20, lambda: self.txn_script('writer')), (8, self.ddl_stmt),
                (12, self.wrap_stmt), (4, self.api_stmt), (2, self.setting_stmt), (1, self.role_stmt)])
        items = as_list(item)
        x = r.random()
        if x < 0.1:
            items.append('RESET ROLE')
        elif x < 0.14:
            # settings such as statement_timeout = 1ms must not stick for long
            items += ['RESET SESSION AUTHORIZATION', 'RESET ALL']
        return items


def as_list(x):
    return x if isinstance(x, list) else [x]


# ---------------------------------------------------------------------------
# Sessions


class Session(threading.Thread):
    def __init__(self, name, kind, seed, statement_timeout_ms=5000):
        super().__init__(name=name, daemon=True)
        self.sname = name
        self.kind = kind
        self.rng = random.Random(seed)
        self.gen = Gen(self.rng, name, steady=(kind in ('steady', 'feeder')))
        self.conn = None
        self.pid = None
        self.stmt_timeout = statement_timeout_ms
        self.log = open(os.path.join(ARGS.run_dir, 'sessions', name + '.sql'), 'w', encoding='utf-8',
                        errors='backslashreplace')
        self.log.write('-- querycache fuzz session %s (%s), seed %d\n' % (name, kind, seed))
        self.busy_since = None          # when the statement in progress was sent
        self.current = None

    def connect(self):
        try:
            self.conn = psycopg2.connect(dsn('qcfuzz-' + self.sname, self.stmt_timeout))
            self.conn.autocommit = True
            self.pid = self.conn.get_backend_pid()
            with LOCK:
                PIDS[self.pid] = self.sname
            self.logline('-- %s connected, backend pid %d\n' % (now(), self.pid))
            count('connections')
            return True
        except psycopg2.Error as e:
            count('connect_failures')
            self.logline('-- %s connect failed: %s\n' % (now(), str(e).strip().replace('\n', ' ')))
            return False

    def logline(self, s):
        self.log.write(s)
        self.log.flush()

    def disconnected(self):
        return self.conn is None or self.conn.closed

    def execute(self, item):
        """Send one statement; False if the connection is gone."""
        if isinstance(item, tuple):
            op = item[0]
            sql = item[1]
        else:
            op, sql = 'sql', item
        if op == 'encoding':
            shown = "SET client_encoding = '%s'" % sql       # through psycopg2's set_client_encoding
        elif op == 'copy_in':
            shown = sql + ';\n' + item[2] + '\\.'       # replayable in psql
        else:
            shown = sql
        self.logline('-- %s %s pid %s\n%s%s\n' % (now(), self.sname, self.pid, shown, '' if op == 'copy_in' else ';'))
        self.current = shown
        self.busy_since = time.time()
        outcome = 'ok'
        try:
            if op == 'encoding':
                self.conn.set_client_encoding(sql)
            else:
                with self.conn.cursor() as cur:
                    if op == 'copy_out':
                        cur.copy_expert(sql, io.BytesIO() if 'binary' in sql else io.StringIO())
                    elif op == 'copy_in':
                        cur.copy_expert(sql, io.StringIO(item[2]))
                    else:
                        cur.execute(sql)
                        if cur.description is not None and op != 'nofetch':
                            cur.fetchall()
            count('ok')
        except BadJson as e:
            outcome = 'CORRUPT JSON: %s' % e
            count('bad_json')
            with LOCK:
                BAD_JSON.append((self.sname, shown, str(e)))
        except psycopg2.Error as e:
            code = e.pgcode or ('connection' if self.disconnected() else 'client')
            with LOCK:
                SQLSTATES[code] += 1
            count('errors')
            outcome = 'ERROR %s: %s' % (code, (e.pgerror or str(e)).strip().split('\n')[0][:200])
        except Exception as e:          # client-side: encoding, decoding and the like
            count('client_errors')
            outcome = 'CLIENT %s: %s' % (type(e).__name__, str(e)[:200])
        finally:
            self.busy_since = None
            self.current = None
        count('statements')
        count('statements_' + self.kind)
        self.logline('-- => %s\n' % outcome.replace('\n', ' '))
        if self.disconnected():
            self.pid = None
            return False
        return True

    def run(self):
        while not STOP.is_set():
            if self.kind == 'writer' and CALM.is_set():
                STOP.wait(0.1)
                continue
            if self.disconnected():
                if not self.connect():
                    STOP.wait(0.3)
                    continue
            try:
                items = self.gen.script(self.kind)
            except Exception:
                count('generator_errors')       # a bug of this script
                self.logline('-- generator error: %s\n' % traceback.format_exc().replace('\n', '\n-- '))
                STOP.wait(0.1)
                continue
            try:
                for it in items:
                    if STOP.is_set():
                        break
                    if (self.conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR
                            and not (isinstance(it, str) and re.match(r'(ROLLBACK|COMMIT|PREPARE|END|ABORT)\b', it))
                            and self.rng.random() < 0.8):
                        continue
                    if not self.execute(it):
                        break
                # Never leave a transaction open between scripts.
                if not self.disconnected() and not STOP.is_set():
                    st = self.conn.get_transaction_status()
                    if st != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                        self.execute('ROLLBACK')
            except Exception:
                count('client_errors')
                self.logline('-- client error: %s\n' % traceback.format_exc().replace('\n', '\n-- '))
                try:
                    self.conn.close()
                except Exception:
                    pass
        self.close()

    def close(self):
        try:
            if self.conn is not None and not self.conn.closed:
                self.conn.close()
        except Exception:
            pass
        self.log.close()


class Feeder(Session):
    """Sends sqlsmith-generated queries through querycache_wrap."""

    def __init__(self, name, seed):
        super().__init__(name, 'feeder', seed, statement_timeout_ms=2000)
        self.queue = []
        self.batch = 0

    def refill(self):
        self.batch += 1
        seed = self.rng.randint(1, 2 ** 31 - 1)
        cmd = [ARGS.sqlsmith, '--target=' + dsn('qcfuzz-feeder-dry', 2000), '--seed=%d' % seed,
               '--max-queries=150', '--dry-run']
        if self.rng.random() < 0.7:
            cmd.append('--exclude-catalog')
        self.logline('-- %s generating: %s\n' % (now(), ' '.join(cmd[2:])))
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               timeout=max(1, min(60, ARGS.deadline - time.time())))
            out = p.stdout.decode('utf-8', 'replace')
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b'').decode('utf-8', 'replace')
        qs, cur = [], []
        for line in out.split('\n'):
            cur.append(line)
            if line.endswith(';'):
                q = '\n'.join(cur).strip().rstrip(';')
                cur = []
                if q:
                    qs.append(q)
        self.queue = qs

    def run(self):
        while not STOP.is_set():
            if not self.queue:
                self.refill()
                if not self.queue:
                    STOP.wait(1)
                    continue
            if self.disconnected() and not self.connect():
                STOP.wait(0.3)
                continue
            q = self.queue.pop()
            k = lit('smith:%d' % self.rng.randint(0, 50))
            form = self.rng.random()
            if form < 0.7:
                stmt = 'SELECT querycache_wrap(%s, %s)' % (k, lit(q))
            elif form < 0.8:
                stmt = 'SELECT querycache_wrap(%s, %s, %s)' % (k, lit(q), self.gen.ttl())
            elif form < 0.9:
                stmt = 'SELECT fuzz_wrap(%s, %s)' % (k, lit(q))
            else:
                stmt = 'SELECT querycache_wrap(%s, %s)' % (k, lit('SELECT fuzz_wrap_catch(%s, %s)' % (k, lit(q))))
            for _ in range(2):          # a fill, then a hit
                if STOP.is_set() or not self.execute(stmt):
                    break
        self.close()


class Smith(threading.Thread):
    """sqlsmith as is, one run after another."""

    def __init__(self, seed):
        super().__init__(name='smith', daemon=True)
        self.rng = random.Random(seed)
        self.runs = 0
        self.proc = None

    def run(self):
        while not STOP.is_set():
            self.runs += 1
            seed = self.rng.randint(1, 2 ** 31 - 1)
            base = os.path.join(ARGS.run_dir, 'smith', 'run-%03d' % self.runs)
            cmd = [ARGS.sqlsmith, '--target=' + dsn('qcfuzz-smith', 3000), '--seed=%d' % seed,
                   '--max-queries=100000', '--dump-all-queries', '--verbose']
            if self.rng.random() < 0.5:
                cmd.append('--exclude-catalog')
            with open(base + '.sql', 'wb') as out, open(base + '.err', 'wb') as err:
                err.write(('# %s\n' % ' '.join(cmd[2:])).encode())
                err.flush()
                self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
                while self.proc.poll() is None and not STOP.is_set():
                    STOP.wait(0.2)
                if self.proc.poll() is None:
                    self.proc.terminate()
                    try:
                        self.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
            n = 0
            with open(base + '.sql', 'rb') as f:
                for line in f:
                    if line.rstrip().endswith(b';'):
                        n += 1
            count('statements', n)
            count('statements_sqlsmith', n)
            if not STOP.is_set():
                STOP.wait(0.5)


class Bench(threading.Thread):
    """pgbench with -M extended and -M prepared: the extended protocol
    (psycopg2 speaks only the simple one), where hits go out through
    DestRemoteExecute, with untyped parameters like node-postgres sends."""

    # (pgbench takes :name for a variable even inside a string literal: no colons)
    SCRIPT = '\n'.join([
        '\\set u random(1, 3)',
        '\\set a random(1, 199)',
        '\\set k random(0, 30)',
        "SELECT querycache_wrap('pgb-agents-' || CAST(:u AS text), %s, NULL, :u);" % lit(' '.join(AGENTS_LIST.split())),
        "SELECT querycache_wrap('pgb-agent-' || CAST(:a AS text), 'SELECT id, name, status FROM agents WHERE id = $1', NULL, :a);",
        "SELECT querycache_get('pgb-agents-' || CAST(:u AS text));",
        "SELECT querycache_wrap('pgb-slow', 'SELECT pg_sleep(0.05) AS s, count(*) AS n FROM agents');",
        "SELECT querycache_wrap('pgb-' || CAST(:k AS text), 'SELECT * FROM fuzz_t WHERE id < $1 ORDER BY id', NULL, :k);",
        "SELECT querycache_wrap('pgb-' || CAST(:k AS text), 'SELECT $1 AS a, $2 AS b', NULL, :k, :u) -> 0;",
        "SELECT querycache_wrap('pgb-' || CAST(:k AS text), 'SELECT $1 AS a', NULL, :k), 1;",
        "SELECT querycache_set('pgb-' || CAST(:k AS text), jsonb_build_array(CAST(:a AS int)));",
        "SELECT querycache_get('pgb-' || CAST(:k AS text));",
        "SELECT querycache_wrap('fz' || chr(58) || CAST(:k AS text), 'SELECT count(*) AS n FROM fuzz_t');",
    ]) + '\n'                           # (an error would end the pgbench client)
    PER_TXN = SCRIPT.count('SELECT querycache_')

    def __init__(self, seed):
        super().__init__(name='pgbench', daemon=True)
        self.rng = random.Random(seed)
        self.runs = 0
        self.proc = None

    def run(self):
        script = os.path.join(ARGS.run_dir, 'pgbench.sql')
        with open(script, 'w') as f:
            f.write(self.SCRIPT)
        pgbench = os.path.join(ARGS.pg_bin, 'pgbench')
        env = dict(os.environ, PGAPPNAME='qcfuzz-pgbench', PGDATABASE=ARGS.dbname,
                   PGUSER=os.environ.get('PGUSER', 'postgres'),
                   PGOPTIONS='-c statement_timeout=5000')
        while not STOP.is_set():
            self.runs += 1
            secs = int(max(1, min(self.rng.randint(3, 10), ARGS.deadline - time.time())))
            mode = self.rng.choice(['extended', 'prepared'])
            base = os.path.join(ARGS.run_dir, 'smith', 'pgbench-%03d' % self.runs)
            with open(base + '.out', 'wb') as out:
                out.write(('# pgbench -M %s -c 2 -R 30 -T %d -f %s\n' % (mode, secs, script)).encode())
                out.flush()
                # -R: at most 30 scripts a second, so that the other sessions keep the CPU
                self.proc = subprocess.Popen([pgbench, '-n', '-M', mode, '-c', '2', '-R', '30', '-T', str(secs), '-f', script],
                                             stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
                while self.proc.poll() is None and not STOP.is_set():
                    STOP.wait(0.2)
                if self.proc.poll() is None:
                    self.proc.terminate()
                    try:
                        self.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
            with open(base + '.out', 'rb') as f:
                m = re.search(rb'number of transactions actually processed: (\d+)', f.read())
            n = int(m.group(1)) * self.PER_TXN if m else 0
            count('statements', n)
            count('statements_pgbench', n)
            if not STOP.is_set():
                STOP.wait(0.3)


class Chaos(threading.Thread):
    """Cancels, terminates, and changes things under the other sessions."""

    def __init__(self, seed):
        super().__init__(name='chaos', daemon=True)
        self.rng = random.Random(seed)
        self.conn = None
        self.log = open(os.path.join(ARGS.run_dir, 'sessions', 'chaos.sql'), 'w', encoding='utf-8')

    def sql(self, stmt):
        self.log.write('-- %s chaos\n%s;\n' % (now(), stmt))
        self.log.flush()
        count('statements')
        count('statements_chaos')
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg2.connect(dsn('qcfuzz-chaos', 5000))
                self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute(stmt)
                rows = cur.fetchall() if cur.description is not None else None
            self.log.write('-- => ok\n')
            return rows
        except psycopg2.Error as e:
            self.log.write('-- => ERROR %s: %s\n' % (e.pgcode, str(e).strip().split('\n')[0][:200]))
            return None

    def victims(self, where='true', smith=True):
        """Backends of the fuzz sessions (and of sqlsmith, if smith)."""
        spare = "'qcfuzz-chaos', 'qcfuzz-monitor', 'qcfuzz-feeder-dry'" + ("" if smith else ", 'qcfuzz-smith'")
        rows = self.sql("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'qcfuzz-%%' "
                        "AND application_name NOT IN (%s) AND pid <> pg_backend_pid() AND %s" % (spare, where))
        return [r[0] for r in rows or []]

    def run(self):
        r = self.rng
        while not STOP.wait(r.uniform(0.05, 0.4)):
            action = r.random()
            if CALM.is_set() and action >= 0.75:
                continue                # nothing that invalidates everything
            try:
                if action < 0.3:
                    v = self.victims("state = 'active'")
                    if v:
                        self.sql('SELECT pg_cancel_backend(%d)' % r.choice(v))
                        count('cancels')
                elif action < 0.45:
                    busy = [s for s in SESSIONS if s.busy_since is not None and not s.disconnected()]
                    if busy:
                        s = r.choice(busy)
                        self.log.write('-- %s chaos: protocol cancel of %s (pid %s)\n' % (now(), s.sname, s.pid))
                        try:
                            s.conn.cancel()
                            count('cancels')
                        except Exception:
                            pass
                elif action < 0.55:
                    v = self.victims("(wait_event_type = 'Extension' OR query LIKE '%querycache_wrap%') AND state = 'active'")
                    if v:
                        self.sql('SELECT pg_%s_backend(%d)' % (r.choice(['cancel', 'cancel', 'terminate']), r.choice(v)))
                        count('leader_kills')
                elif action < 0.62:
                    v = self.victims(smith=r.random() < 0.1)
                    if v:
                        self.sql('SELECT pg_terminate_backend(%d)' % r.choice(v))
                        count('terminates')
                elif action < 0.64:
                    self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'querycache sweeper'")
                    count('sweeper_kills')
                elif action < 0.75:
                    rows = self.sql("SELECT gid FROM pg_prepared_xacts WHERE prepared < now() - interval '200 ms'")
                    for (gid,) in rows or []:
                        self.sql("%s PREPARED %s" % (r.choice(['COMMIT', 'ROLLBACK']), lit(gid)))
                elif action < 0.8:
                    self.sql(r.choice(['SELECT querycache_clear_all()', 'SELECT querycache_stats_reset()']))
                elif action < 0.83:
                    self.sql("ALTER SYSTEM SET querycache.sweep_interval = '%ds'" % r.randint(1, 3))
                    self.sql('SELECT pg_reload_conf()')
                elif action < 0.86:
                    self.sql(r.choice(['VACUUM agents', 'ANALYZE fuzz_t', 'CHECKPOINT']))
                elif action < 0.9:
                    # TTL rows the sessions (and sqlsmith) add, such as '.' with
                    # 1 microsecond, would soon expire every entry on arrival
                    self.sql("DELETE FROM querycache_ttl WHERE pattern NOT IN "
                             "('^agents:list', '^contacts:list', '^stats:', '^campaigns:', '^fz:short', '^fz:')")
                elif action < 0.87 and ARGS.drop_extension:
                    self.sql('DROP EXTENSION querycache CASCADE')
                    self.sql('CREATE EXTENSION querycache')
                    self.sql("SELECT querycache_watch('fuzz_t', '^fz:')")
                    self.sql("INSERT INTO querycache_ttl VALUES ('^fz:short', interval '1 second') ON CONFLICT DO NOTHING")
                    count('extension_recreated')
            except Exception:
                self.log.write('-- chaos error: %s\n' % traceback.format_exc().replace('\n', '\n-- '))
        try:
            self.conn.close()
        except Exception:
            pass
        self.log.close()


# ---------------------------------------------------------------------------
# Monitor

CRASH_PATTERNS = [
    ('restart', re.compile(r'terminated by signal|was terminated by exception|server process \(PID \d+\) (was terminated|exited with exit code)'
                           r'|terminating any other active server processes|all server processes terminated; reinitializing')),
    ('assertion', re.compile(r'TRAP:|failed Assert|FailedAssertion|Assert(ion)? failed')),
    ('panic', re.compile(r'\bPANIC:')),
]
# Not crashes, but worth reporting: resource leaks, internal errors (XX000).
WARN_PATTERN = re.compile(r'WARNING: .*(leak|not closed|still referenced|non-empty SPI stack|still active|'
                          r'you don\'t own|AbortTransaction while|StartTransaction while|unexpected)', re.I)
LOCATION = re.compile(r'LOCATION:\s+(\S+), (\S+\.c):\d+')


class Monitor:
    def __init__(self):
        self.pos = 0
        self.conn = None
        self.start_time = None
        self.ckpt_start = None
        self.events = []                # (kind, line)
        self.failed_running = []        # "Failed process was running" statements
        self.warnings = collections.Counter()
        self.internal = collections.Counter()
        self.prev_error = None
        self.partial = b''
        self.stats = collections.Counter()      # querycache_stats, summed over resets
        self.last_stats = {}

    def scan_log(self):
        try:
            with open(ARGS.server_log, 'rb') as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b'\n')
        self.partial = lines.pop()
        for raw in lines:
            line = raw.decode('utf-8', 'replace')
            for kind, pat in CRASH_PATTERNS:
                if pat.search(line):
                    self.events.append((kind, line))
            if 'Failed process was running:' in line:
                self.failed_running.append(line.split('Failed process was running:', 1)[1].strip())
            if WARN_PATTERN.search(line):
                self.warnings[re.sub(r'^.*?WARNING:\s+\S*\s*', '', line)[:200]] += 1
            if ' XX000 ' in line and 'ERROR:' in line:
                self.prev_error = re.sub(r'^.*?ERROR:\s+XX000:\s*', '', line)[:200]
            elif self.prev_error is not None:
                # "can't happen" errors (elog), whoever raised them; digits
                # (OIDs) stripped so that one cause counts once
                m = LOCATION.search(line)
                if m:
                    ours = m.group(1).startswith('qc_') or m.group(1).startswith('querycache')
                    self.internal['%s (at %s, %s%s)' % (re.sub(r'\d+', 'N', self.prev_error), m.group(1), m.group(2),
                                                        ', in querycache' if ours else '')] += 1
                if 'LOCATION:' in line:
                    self.prev_error = None

    def check_server(self):
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg2.connect(dsn('qcfuzz-monitor', 5000))
                self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_postmaster_start_time(), "
                            "(SELECT backend_start FROM pg_stat_activity WHERE backend_type = 'checkpointer')")
                st, ck = cur.fetchone()
        except psycopg2.Error:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None
            return
        self.sample_stats()
        if self.start_time is None:
            self.start_time, self.ckpt_start = st, ck
        elif st != self.start_time:
            self.events.append(('restart', 'pg_postmaster_start_time changed from %s to %s' % (self.start_time, st)))
            self.start_time = st
        elif ck is not None and self.ckpt_start is not None and ck != self.ckpt_start:
            self.events.append(('restart', 'the checkpointer restarted (started %s, now %s): a crash restart'
                                % (self.ckpt_start, ck)))
            self.ckpt_start = ck

    STATS = ('hits', 'misses', 'fills', 'coalesced', 'bypasses', 'evictions', 'expirations',
             'invalidations', 'too_large', 'discarded')

    def sample_stats(self):
        """Add what querycache_stats counted since the last sample (the
        chaos thread resets it, and the extension may be dropped)."""
        try:
            with self.conn.cursor() as cur:
                cur.execute('SELECT %s FROM querycache_stats' % ', '.join(self.STATS))
                row = cur.fetchone()
        except psycopg2.Error:
            return
        for name, v in zip(self.STATS, row):
            old = self.last_stats.get(name, 0)
            self.stats[name] += v - old if v >= old else v
            self.last_stats[name] = v

    def failed(self):
        return bool(self.events) or bool(BAD_JSON)


def stop_all(monitor, hangs):
    """Stop the sessions; sessions that do not return are hangs."""
    STOP.set()
    grace = time.time() + 15
    for t in SESSIONS:
        t.join(max(0.1, grace - time.time()))
    stuck = [t for t in SESSIONS if t.is_alive() and isinstance(t, Session)]
    if not stuck:
        return
    info = []
    try:
        conn = psycopg2.connect(dsn('qcfuzz-monitor-end', 10000))
        conn.autocommit = True
        cur = conn.cursor()
        for t in stuck:
            if t.pid is None:
                continue
            cur.execute("SELECT state, wait_event_type, wait_event, now() - query_start, left(query, 2000) "
                        "FROM pg_stat_activity WHERE pid = %s", (t.pid,))
            row = cur.fetchone()
            bt = ''
            if shutil.which('gdb'):
                try:
                    bt = subprocess.run(['gdb', '-p', str(t.pid), '-batch', '-ex', 'bt'], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, timeout=60).stdout.decode('utf-8', 'replace')
                except Exception as e:
                    bt = 'gdb failed: %s' % e
            info.append((t, row, bt))
            cur.execute('SELECT pg_cancel_backend(%s)', (t.pid,))
        time.sleep(5)
        for t in stuck:
            if t.is_alive() and t.pid is not None:
                cur.execute('SELECT pg_terminate_backend(%s)', (t.pid,))
        time.sleep(5)
        conn.close()
    except psycopg2.Error as e:
        info.append((None, None, 'could not inspect: %s' % e))
    for t, row, bt in info:
        if t is None:
            hangs.append(bt)
            continue
        hangs.append('session %s (pid %s) still running 15 s after the deadline; pg_stat_activity: %r; '
                     'still alive after cancel+terminate: %s\nstatement: %s\n%s'
                     % (t.sname, t.pid, row and row[:4], t.is_alive(), (t.current or '')[:1000], bt))


def final_checks():
    """After the run, the cache must still work: clearing it returns every
    entry and block, and a repeated wrap hits.  Broken bookkeeping (a
    leaked block, entry or in-flight commit count) would show here.
    Returns a list of problems."""
    problems = []
    try:
        conn = psycopg2.connect(dsn('qcfuzz-final', 30000))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute('CREATE EXTENSION IF NOT EXISTS querycache')
        cur.execute('SELECT gid FROM pg_prepared_xacts')
        for (gid,) in cur.fetchall():
            cur.execute('ROLLBACK PREPARED %s', (gid,))
        cur.execute('RESET ALL')
        for attempt in range(10):
            cur.execute('SELECT querycache_clear_all()')
            cur.execute('SELECT entries, memory_bytes FROM querycache_stats')
            entries, mem = cur.fetchone()
            if entries == 0 and mem == 0:
                break
            time.sleep(0.5)
        else:
            problems.append('after querycache_clear_all() the cache still holds %d entries and %d bytes' % (entries, mem))
        for attempt in range(5):
            cur.execute('SELECT hits FROM querycache_stats')
            before = cur.fetchone()[0]
            for _ in range(2):
                cur.execute("SELECT querycache_wrap('final:probe:%d', 'SELECT count(*) FROM agents', interval '1 hour')" % attempt)
            cur.execute('SELECT hits FROM querycache_stats')
            if cur.fetchone()[0] > before:
                break
            time.sleep(1)
        else:
            problems.append('a wrap called twice never hits any more (fills are never stored)')
        conn.close()
    except psycopg2.Error as e:
        problems.append('final checks failed: %s' % str(e).strip())
    return problems


def tail(path, n):
    try:
        with open(path, 'rb') as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def last_statements(path, n, width=400):
    """The last n statements of a session log, each cut to width characters."""
    blocks = re.split(r'\n(?=-- \d\d:\d\d:\d\d\.\d{3} )', tail(path, 2000000))
    out = []
    for b in blocks[-n:]:
        out.append(b if len(b) <= width else b[:width] + ' ...[%d characters]' % len(b))
    return '\n'.join(out)


def save_failure(monitor, hangs, problems):
    ts = time.strftime('%Y%m%d-%H%M%S')
    d = os.path.join(ARGS.failure_base, 'fuzz-failure-' + ts)
    os.makedirs(d, exist_ok=True)
    # Let the server finish logging the crash (TRAP line, backtrace, restart).
    time.sleep(2)
    monitor.scan_log()
    shutil.copy(ARGS.server_log, os.path.join(d, 'postmaster.log'))
    os.makedirs(os.path.join(d, 'sessions'))
    for f in glob.glob(os.path.join(ARGS.run_dir, 'sessions', '*.sql')):
        with open(os.path.join(d, 'sessions', os.path.basename(f)), 'w') as out:
            out.write(tail(f, 400000))
    os.makedirs(os.path.join(d, 'sqlsmith'))
    for f in glob.glob(os.path.join(ARGS.run_dir, 'smith', '*')):
        with open(os.path.join(d, 'sqlsmith', os.path.basename(f)), 'w') as out:
            out.write(tail(f, 200000))
    with open(os.path.join(d, 'SUMMARY.txt'), 'w') as s:
        s.write('querycache fuzz failure, %s\nserver: %s\n\n' % (time.ctime(), ARGS.pg_bin))
        for kind, line in monitor.events:
            s.write('%s: %s\n' % (kind, line))
        for stmt in monitor.failed_running:
            s.write('\nThe crashed backend was running:\n%s\n' % stmt)
        crashed = [int(m) for _, line in monitor.events for m in re.findall(r'server process \(PID (\d+)\)', line)]
        crashed += [int(m) for _, line in monitor.events for m in re.findall(r'PID: (\d+)\)', line)]
        for pid in sorted(set(crashed)):
            name = PIDS.get(pid)
            s.write('\nPID %d was session %s\n' % (pid, name or '(not a fuzz API session: sqlsmith or other)'))
            if name:
                s.write('Its last statements (sessions/%s.sql):\n%s\n'
                        % (name, last_statements(os.path.join(ARGS.run_dir, 'sessions', name + '.sql'), 20, 2000)))
        for sess, stmt, err in BAD_JSON:
            s.write('\nCorrupt JSON received by %s: %s\nstatement: %s\n' % (sess, err, stmt))
        for h in hangs:
            s.write('\nHang: %s\n' % h)
        for p in problems:
            s.write('\nBroken state after the run: %s\n' % p)
        s.write('\nLast statements of each session (shortened; whole in sessions/):\n')
        for f in sorted(glob.glob(os.path.join(ARGS.run_dir, 'sessions', '*.sql'))):
            s.write('\n==> %s <==\n%s\n' % (os.path.basename(f), last_statements(f, 8)))
        for f in sorted(glob.glob(os.path.join(ARGS.run_dir, 'smith', '*.sql')))[-1:]:
            s.write('\n==> sqlsmith %s (last queries) <==\n%s\n' % (os.path.basename(f), tail(f, 6000)))
    # Core files: keep a backtrace of each (and the core itself).
    for core in glob.glob(os.path.join(ARGS.data_dir, 'core*')):
        dst = os.path.join(d, os.path.basename(core))
        shutil.move(core, dst)
        if shutil.which('gdb'):
            try:
                bt = subprocess.run(['gdb', '-batch', '-ex', 'bt full', os.path.join(ARGS.pg_bin, 'postgres'), dst],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120).stdout
                with open(dst + '.backtrace.txt', 'wb') as f:
                    f.write(bt)
            except Exception as e:
                with open(dst + '.backtrace.txt', 'w') as f:
                    f.write('gdb failed: %s\n' % e)
    return d


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--run-dir', required=True, help='statement logs go to RUN_DIR/sessions and RUN_DIR/smith')
    ap.add_argument('--server-log', required=True)
    ap.add_argument('--data-dir', required=True, help='where core files appear')
    ap.add_argument('--failure-base', required=True, help='fuzz-failure-<timestamp>/ is created here')
    ap.add_argument('--pg-bin', required=True)
    ap.add_argument('--dbname', default='fuzz')
    ap.add_argument('--api-sessions', type=int, default=5)
    ap.add_argument('--steady', type=int, default=3, help='how many of the API sessions keep default settings')
    ap.add_argument('--writers', type=int, default=2)
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--sqlsmith', default=shutil.which('sqlsmith') or 'sqlsmith')
    ap.add_argument('--no-sqlsmith', action='store_true')
    ap.add_argument('--no-drop-extension', dest='drop_extension', action='store_false')
    ARGS = ap.parse_args()
    seed = ARGS.seed if ARGS.seed is not None else random.randrange(1, 2 ** 31)
    ARGS.deadline = time.time() + ARGS.seconds
    os.makedirs(os.path.join(ARGS.run_dir, 'sessions'), exist_ok=True)
    os.makedirs(os.path.join(ARGS.run_dir, 'smith'), exist_ok=True)
    print('fuzz: %g s, seed %d, %d API sessions (%d steady), %d writers, sqlsmith %s; statement logs in %s'
          % (ARGS.seconds, seed, ARGS.api_sessions, min(ARGS.steady, ARGS.api_sessions), ARGS.writers, 'off' if ARGS.no_sqlsmith else 'on', ARGS.run_dir), flush=True)

    monitor = Monitor()
    monitor.check_server()
    if monitor.start_time is None:
        print('fuzz: cannot connect to the server', file=sys.stderr)
        return 2
    monitor.scan_log()
    if monitor.events:
        print('fuzz: note: the server log shows a crash from before this run; only new ones count', file=sys.stderr)
        monitor.events = []
        monitor.failed_running = []

    master = random.Random(seed)
    threads = []
    for i in range(ARGS.api_sessions):
        SESSIONS.append(Session('api%d' % (i + 1), 'steady' if i < ARGS.steady else 'api', master.randrange(2 ** 31)))
    for i in range(ARGS.writers):
        SESSIONS.append(Session('writer%d' % (i + 1), 'writer', master.randrange(2 ** 31)))
    if not ARGS.no_sqlsmith:
        SESSIONS.append(Feeder('feeder', master.randrange(2 ** 31)))
        threads.append(Smith(master.randrange(2 ** 31)))
    if os.path.exists(os.path.join(ARGS.pg_bin, 'pgbench')):
        threads.append(Bench(master.randrange(2 ** 31)))
    threads.append(Chaos(master.randrange(2 ** 31)))
    for t in SESSIONS + threads:
        t.start()

    last_report = time.time()
    last_check = 0
    next_phase = time.time() + master.uniform(1, 4)
    while time.time() < ARGS.deadline:
        time.sleep(0.25)
        if time.time() >= next_phase:   # alternate storms of writes and calm
            if CALM.is_set():
                CALM.clear()
            else:
                CALM.set()
            next_phase = time.time() + master.uniform(1, 4)
        monitor.scan_log()
        if time.time() - last_check >= 1:
            monitor.check_server()
            last_check = time.time()
        if monitor.failed():
            break
        if time.time() - last_report >= 10:
            last_report = time.time()
            print('fuzz: %4.0f s left, %d statements, %d errors' % (ARGS.deadline - time.time(), COUNTS['statements'], COUNTS['errors']),
                  flush=True)

    hangs = []
    stop_all(monitor, hangs)
    for t in threads:
        t.join(10)
    time.sleep(0.5)
    monitor.scan_log()
    monitor.check_server()

    problems = [] if monitor.events else final_checks()
    monitor.scan_log()
    kinds = collections.Counter(k for k, _ in monitor.events)
    restarts = sum(1 for _, l in monitor.events if 'all server processes terminated; reinitializing' in l
                   or 'pg_postmaster_start_time changed' in l or 'checkpointer restarted' in l)
    if kinds['restart'] and not restarts:
        restarts = 1
    asserts = sum(1 for _, l in monitor.events if 'TRAP:' in l)
    panics = kinds['panic']
    failed = bool(monitor.events or hangs or BAD_JSON or problems)

    print()
    print('fuzz: statements by source: %s' % ', '.join('%s %d' % (k[len('statements_'):], v)
                                                        for k, v in sorted(COUNTS.items()) if k.startswith('statements_')))
    print('fuzz: client errors by SQLSTATE (expected): %s' % ', '.join('%s %d' % kv for kv in SQLSTATES.most_common(12)))
    if COUNTS['generator_errors']:
        print('fuzz: WARNING: %d generator errors (bugs of fuzz.py; see the session logs)' % COUNTS['generator_errors'])
    print('fuzz: querycache_stats over the run: %s' % ', '.join('%s %d' % (k, monitor.stats[k]) for k in Monitor.STATS))
    print('fuzz: cancels %d, leader cancels/terminates %d, terminates %d, sweeper kills %d, extension recreated %d, reconnects %d'
          % (COUNTS['cancels'], COUNTS['leader_kills'], COUNTS['terminates'], COUNTS['sweeper_kills'],
             COUNTS['extension_recreated'], COUNTS['connections']))
    for w, n in monitor.warnings.most_common(10):
        print('fuzz: server WARNING x%d: %s' % (n, w))
    for w, n in monitor.internal.most_common(10):
        print('fuzz: internal error (XX000, reported, not a failure) x%d: %s' % (n, w))
    for kind, line in monitor.events[:20]:
        print('fuzz: %s: %s' % (kind.upper(), line))
    for sess, stmt, err in BAD_JSON[:5]:
        print('fuzz: CORRUPT JSON in %s: %s\n  statement: %s' % (sess, err, stmt[:500]))
    for h in hangs:
        print('fuzz: HANG: %s' % h[:4000])
    for p in problems:
        print('fuzz: BROKEN STATE: %s' % p)
    if not monitor.events and not problems:
        print('fuzz: after the run the cache still works: querycache_clear_all() returned every entry and block, a repeated wrap hits')
    if failed:
        d = save_failure(monitor, hangs, problems)
        print('fuzz: FAILED; postmaster log, statement logs and the crash summary saved in %s' % d)
        print('fuzz: see %s/SUMMARY.txt' % d)
    print('fuzz: %d statements, %d server restarts, %d assertion failures, %d panics, %d hangs, %d corrupt results, '
          '%d broken-state checks' % (COUNTS['statements'], restarts, asserts, panics, len(hangs), len(BAD_JSON), len(problems)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
