-- Cases and their events (SQLite). Integers are seconds (UnixTime) or days (DayNumber) since 1970-01-01.
CREATE TABLE cases (
    id         TEXT    NOT NULL PRIMARY KEY,
    node       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    last_seq   INTEGER NOT NULL CHECK (last_seq >= 0),
    snapshot   BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX cases_by_creation ON cases (created_at, id);
CREATE INDEX cases_by_node ON cases (node, created_at, id);
CREATE INDEX cases_by_state ON cases (state, created_at, id);

CREATE TABLE events (
    wid       INTEGER NOT NULL PRIMARY KEY, -- write order
    case_id   TEXT    NOT NULL REFERENCES cases (id),
    seq       INTEGER NOT NULL CHECK (seq >= 1),
    kind      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    bytes     BLOB    NOT NULL,
    salt      BLOB    NOT NULL CHECK (length(salt) = 32),
    reveal_by INTEGER,
    log_index INTEGER CHECK (log_index >= 0),
    revealed  INTEGER NOT NULL DEFAULT 0 CHECK (revealed IN (0, 1)),
    UNIQUE (case_id, seq)
) STRICT;

CREATE INDEX events_reveal_due ON events (reveal_by) WHERE revealed = 0 AND reveal_by IS NOT NULL;
CREATE INDEX events_not_logged ON events (wid) WHERE log_index IS NULL;

-- What an event says never changes; a log index is set once; a reveal is never undone; nothing is deleted.
CREATE TRIGGER events_immutable BEFORE UPDATE OF wid, case_id, seq, kind, at, bytes, salt, reveal_by ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable');
END;

CREATE TRIGGER events_log_index_once BEFORE UPDATE OF log_index ON events
WHEN OLD.log_index IS NOT NULL AND NEW.log_index IS NOT OLD.log_index
BEGIN
    SELECT RAISE(ABORT, 'an event''s log index never changes');
END;

CREATE TRIGGER events_reveal_once BEFORE UPDATE OF revealed ON events
WHEN OLD.revealed = 1 AND NEW.revealed = 0
BEGIN
    SELECT RAISE(ABORT, 'a reveal is never undone');
END;

CREATE TRIGGER events_never_deleted BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are never deleted');
END;

CREATE TRIGGER cases_version_grows BEFORE UPDATE OF version ON cases
WHEN NEW.version <> OLD.version + 1
BEGIN
    SELECT RAISE(ABORT, 'a case version only grows by one');
END;

CREATE TRIGGER cases_never_deleted BEFORE DELETE ON cases
BEGIN
    SELECT RAISE(ABORT, 'cases are never deleted');
END;
