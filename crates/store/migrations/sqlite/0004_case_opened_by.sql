-- Who opened a case at this node (the account's or the token holder's name), so that a person's list of
-- cases can be their own; NULL for a case that arrived from another node, and for cases stored before.
-- Set when the case is created, never changed.
ALTER TABLE cases ADD COLUMN opened_by TEXT;

CREATE INDEX cases_by_opener ON cases (opened_by, created_at, id) WHERE opened_by IS NOT NULL;

CREATE TRIGGER cases_opener_fixed BEFORE UPDATE OF opened_by ON cases
WHEN NEW.opened_by IS NOT OLD.opened_by
BEGIN
    SELECT RAISE(ABORT, 'who opened a case never changes');
END;
