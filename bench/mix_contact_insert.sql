-- Write mix (write_mix.sh): a new contact for a random user, a change to
-- that user's contacts list; in the same statement the user's
-- contacts-list version goes up and is logged.
\set uid random(1, 20)
WITH c AS (
	INSERT INTO contacts (user_id, name, phone)
	VALUES (:uid, 'New contact of ' || :uid, '+1-555-9999999')
	RETURNING user_id),
v AS (
	UPDATE contacts_versions cv SET version = cv.version + 1, changed_at = clock_timestamp()
	  FROM c WHERE cv.user_id = c.user_id
	RETURNING cv.user_id, cv.version, cv.changed_at)
INSERT INTO version_log (list, user_id, version, changed_at, source)
SELECT 'contacts', user_id, version, changed_at, 'contact' FROM v;
