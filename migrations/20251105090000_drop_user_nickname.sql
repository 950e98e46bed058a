-- schema: destructive
-- Nicknames were never shown anywhere; the column goes, with its data, on purpose.
ALTER TABLE users DROP COLUMN nickname;
