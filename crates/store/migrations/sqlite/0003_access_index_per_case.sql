-- A log index is unique within one node's log, and one database may hold the cases of more than one node:
-- an access's log index is unique per case (a case belongs to one node), not across the table.
DROP TRIGGER accesses_immutable;
DROP TRIGGER accesses_never_deleted;
CREATE TABLE accesses_new (
    aid       INTEGER NOT NULL PRIMARY KEY,
    case_id   TEXT    NOT NULL REFERENCES cases (id),
    at        INTEGER NOT NULL,
    role      TEXT    NOT NULL,
    what      TEXT    NOT NULL,
    bytes     BLOB    NOT NULL,
    salt      BLOB    NOT NULL CHECK (length(salt) = 32),
    log_index INTEGER NOT NULL CHECK (log_index >= 0),
    UNIQUE (case_id, log_index)
) STRICT;
INSERT INTO accesses_new (aid, case_id, at, role, what, bytes, salt, log_index)
    SELECT aid, case_id, at, role, what, bytes, salt, log_index FROM accesses;
DROP TABLE accesses;
ALTER TABLE accesses_new RENAME TO accesses;

CREATE INDEX accesses_by_case ON accesses (case_id, aid);

CREATE TRIGGER accesses_immutable BEFORE UPDATE ON accesses
BEGIN
    SELECT RAISE(ABORT, 'accesses are immutable');
END;

CREATE TRIGGER accesses_never_deleted BEFORE DELETE ON accesses
BEGIN
    SELECT RAISE(ABORT, 'accesses are never deleted');
END;
