-- A log index is unique within one node's log, and one database may hold the cases of more than one node:
-- an access's log index is unique per case (a case belongs to one node), not across the table.
ALTER TABLE accesses DROP CONSTRAINT accesses_log_index_key;
ALTER TABLE accesses ADD CONSTRAINT accesses_case_log_index_key UNIQUE (case_id, log_index);
