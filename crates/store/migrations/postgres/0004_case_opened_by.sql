-- Who opened a case at this node (the account's or the token holder's name), so that a person's list of
-- cases can be their own; NULL for a case that arrived from another node, and for cases stored before.
-- Set when the case is created, never changed (so indexing it keeps updates heap-only).
ALTER TABLE cases ADD COLUMN opened_by TEXT;

CREATE INDEX cases_by_opener ON cases (opened_by, created_at, id) WHERE opened_by IS NOT NULL;

CREATE FUNCTION custodia_cases_opener_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.opened_by IS DISTINCT FROM OLD.opened_by THEN
        RAISE EXCEPTION 'who opened a case never changes';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER cases_opener_fixed BEFORE UPDATE OF opened_by ON cases
    FOR EACH ROW EXECUTE FUNCTION custodia_cases_opener_fixed();
