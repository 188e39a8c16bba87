-- Snapshots (a few KiB of JSON) are compressed by TOAST when a row is written and decompressed when it
-- is read; pglz, the default, cost more CPU than any other function of the server under the node's API
-- load (BENCHMARKS.md, "node"). lz4 compresses and decompresses several times faster. Servers built
-- without lz4 (or before PostgreSQL 14) keep pglz. Only values written from now on use lz4; both read.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE cases ALTER COLUMN snapshot SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'snapshots keep the default compression: %', SQLERRM;
END;
$$;
