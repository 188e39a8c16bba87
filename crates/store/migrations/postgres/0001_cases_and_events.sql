-- Cases and their events (PostgreSQL). Integers are seconds (UnixTime) or days (DayNumber) since 1970-01-01.
CREATE TABLE cases (
    id         TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    node       TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    state      TEXT   NOT NULL,
    version    BIGINT NOT NULL CHECK (version >= 1),
    last_seq   BIGINT NOT NULL CHECK (last_seq >= 0),
    snapshot   BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Only columns that never change are indexed, and pages keep room to spare, so that an update (new state,
-- snapshot, version) is a heap-only tuple update that touches no index. Listing by state or kind filters
-- the rows found through these indexes.
ALTER TABLE cases SET (fillfactor = 70);
CREATE INDEX cases_by_creation ON cases (created_at, id);
CREATE INDEX cases_by_node ON cases (node, created_at, id);

CREATE TABLE events (
    wid       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- write order
    case_id   TEXT    COLLATE "C" NOT NULL REFERENCES cases (id),
    seq       BIGINT  NOT NULL CHECK (seq >= 1),
    kind      TEXT    NOT NULL,
    at        BIGINT  NOT NULL,
    bytes     BYTEA   NOT NULL,
    salt      BYTEA   NOT NULL CHECK (length(salt) = 32),
    reveal_by BIGINT,
    log_index BIGINT  CHECK (log_index >= 0),
    revealed  BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (case_id, seq)
);

CREATE INDEX events_reveal_due ON events (reveal_by) WHERE NOT revealed AND reveal_by IS NOT NULL;
CREATE INDEX events_not_logged ON events (wid) WHERE log_index IS NULL;

-- What an event says never changes; a log index is set once; a reveal is never undone; nothing is deleted.
CREATE FUNCTION custodia_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'events are never deleted';
    END IF;
    IF (NEW.wid, NEW.case_id, NEW.seq, NEW.kind, NEW.at, NEW.bytes, NEW.salt, NEW.reveal_by)
        IS DISTINCT FROM (OLD.wid, OLD.case_id, OLD.seq, OLD.kind, OLD.at, OLD.bytes, OLD.salt, OLD.reveal_by) THEN
        RAISE EXCEPTION 'events are immutable';
    END IF;
    IF OLD.log_index IS NOT NULL AND NEW.log_index IS DISTINCT FROM OLD.log_index THEN
        RAISE EXCEPTION 'an event''s log index never changes';
    END IF;
    IF OLD.revealed AND NOT NEW.revealed THEN
        RAISE EXCEPTION 'a reveal is never undone';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_guard BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION custodia_events_guard();

CREATE FUNCTION custodia_cases_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'cases are never deleted';
    END IF;
    RAISE EXCEPTION 'a case version only grows by one; its id, node, kind and creation time never change';
END;
$$;

-- The WHEN condition is evaluated without calling the function: a well-formed update costs no PL/pgSQL.
CREATE TRIGGER cases_guard_update BEFORE UPDATE ON cases
FOR EACH ROW WHEN (NEW.version <> OLD.version + 1 OR NEW.id <> OLD.id OR NEW.node <> OLD.node
                   OR NEW.kind <> OLD.kind OR NEW.created_at <> OLD.created_at)
EXECUTE FUNCTION custodia_cases_guard();

CREATE TRIGGER cases_guard_delete BEFORE DELETE ON cases
FOR EACH ROW EXECUTE FUNCTION custodia_cases_guard();
