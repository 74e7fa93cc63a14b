'use strict';
// node src/server.js: PGHOST, PGPORT, PGDATABASE, PGUSER (PGPASSWORD) select
// the database, PORT the HTTP port (default 3000).
const { createApp } = require('./app');
const { createPool } = require('./db');

const pool = createPool();
const app = createApp({ pool });
const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`querycache node-api listening on http://localhost:${server.address().port}`);
});

function shutdown() {
  server.close(() => pool.end().then(() => process.exit(0)));
  server.closeAllConnections();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
