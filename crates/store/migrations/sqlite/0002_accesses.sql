-- Every access to a case (a read of the case, its events, its accesses, its evidence, its page), committed
-- to the node's log before it was answered: the record's exact bytes, the salt of the commitment, and where
-- the commitment is in the log. Never changed, never deleted.
CREATE TABLE accesses (
    aid       INTEGER NOT NULL PRIMARY KEY,
    case_id   TEXT    NOT NULL REFERENCES cases (id),
    at        INTEGER NOT NULL,
    role      TEXT    NOT NULL,
    what      TEXT    NOT NULL,
    bytes     BLOB    NOT NULL,
    salt      BLOB    NOT NULL CHECK (length(salt) = 32),
    log_index INTEGER NOT NULL UNIQUE CHECK (log_index >= 0)
) STRICT;

CREATE INDEX accesses_by_case ON accesses (case_id, aid);

CREATE TRIGGER accesses_immutable BEFORE UPDATE ON accesses
BEGIN
    SELECT RAISE(ABORT, 'accesses are immutable');
END;

CREATE TRIGGER accesses_never_deleted BEFORE DELETE ON accesses
BEGIN
    SELECT RAISE(ABORT, 'accesses are never deleted');
END;
