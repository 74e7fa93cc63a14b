'use strict';
// The connection pool, and a per-request count of the queries it runs.
const { AsyncLocalStorage } = require('node:async_hooks');
const { Pool } = require('pg');

const requestContext = new AsyncLocalStorage();

// Counts every statement sent to the server on behalf of the current request
// (pool.query() and queries on a checked-out client alike): each client's query
// function is wrapped as the pool creates it, so nothing is counted twice.
function countQueries(client) {
  const query = client.query;
  client.query = function countedQuery(...args) {
    const ctx = requestContext.getStore();
    if (ctx) ctx.queries += 1;
    return query.apply(this, args);
  };
}

// Connection settings come from PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD.
function createPool(options = {}) {
  const pool = new Pool({ max: 10, ...options });
  pool.on('connect', countQueries);
  // An idle client losing its connection must not crash the process.
  pool.on('error', (err) => console.error('pg pool error:', err.message));
  return pool;
}

module.exports = { createPool, requestContext };
