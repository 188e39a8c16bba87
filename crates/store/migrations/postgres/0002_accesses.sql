-- Every access to a case (a read of the case, its events, its accesses, its evidence, its page), committed
-- to the node's log before it was answered: the record's exact bytes, the salt of the commitment, and where
-- the commitment is in the log. Never changed, never deleted.
CREATE TABLE accesses (
    aid       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id   TEXT   COLLATE "C" NOT NULL REFERENCES cases (id),
    at        BIGINT NOT NULL,
    role      TEXT   NOT NULL,
    what      TEXT   NOT NULL,
    bytes     BYTEA  NOT NULL,
    salt      BYTEA  NOT NULL CHECK (length(salt) = 32),
    log_index BIGINT NOT NULL UNIQUE CHECK (log_index >= 0)
);

CREATE INDEX accesses_by_case ON accesses (case_id, aid);

CREATE FUNCTION accesses_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'accesses are never changed or deleted';
END;
$$;

CREATE TRIGGER accesses_immutable BEFORE UPDATE OR DELETE ON accesses
    FOR EACH ROW EXECUTE FUNCTION accesses_kept();
