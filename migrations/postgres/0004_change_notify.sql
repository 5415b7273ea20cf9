-- Every replica keeps a read-through cache (store::cached) of projects, users, role bindings,
-- instances, db users and tokens. A change commits a NOTIFY on `dbkill_changes` naming the
-- table, and each replica's listener drops what it cached of it.
--
-- Statement-level triggers fire even when a statement changes no row; the transition table
-- `changed` lets the function stay quiet then (a no-op DELETE of expired tokens on every token
-- issue must not flush every replica's cache).
CREATE FUNCTION dbkill_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        PERFORM pg_notify('dbkill_changes', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END;
$$;

-- One trigger per event: a transition table belongs to one event.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects', 'users', 'role_bindings', 'instances', 'db_users'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed '
            'FOR EACH STATEMENT EXECUTE FUNCTION dbkill_notify_change()', t || '_inserted', t);
    END LOOP;
    -- Tokens and access keys: a new one is not cached anywhere yet, so only updates and deletes
    -- (a revocation) notify; issuing tokens stays quiet.
    FOREACH t IN ARRAY ARRAY['projects', 'users', 'role_bindings', 'instances', 'db_users',
                             'tokens', 'access_keys'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS changed '
            'FOR EACH STATEMENT EXECUTE FUNCTION dbkill_notify_change()', t || '_updated', t);
        EXECUTE format(
            'CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed '
            'FOR EACH STATEMENT EXECUTE FUNCTION dbkill_notify_change()', t || '_deleted', t);
    END LOOP;
END;
$$;
