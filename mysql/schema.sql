-- The lab's schema. Used by the native runner, the Docker image and the tests alike.
CREATE DATABASE IF NOT EXISTS eserver CHARACTER SET utf8mb4;
USE eserver;

-- What client.php inserts: `insert into bench_events (num) values (%d)`.
-- num is the PRIMARY KEY, so that a duplicate delivery fails loudly instead of hiding as an extra row.
-- (No surrogate AUTO_INCREMENT id: one B-tree instead of two made multi-row drain inserts ~1.6x faster here.)
CREATE TABLE IF NOT EXISTS bench_events (
  num BIGINT NOT NULL PRIMARY KEY,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

-- The highest queue sequence number applied, committed in the same transaction as the batch; and who may
-- write it: owner is the one live writer (each batch checks it under the row lock), journal_id the journal
-- that may still hold the stream's unapplied entries, stream_uid what a journal checks to know this database.
CREATE TABLE IF NOT EXISTS queue_offsets (
  stream VARCHAR(64) NOT NULL PRIMARY KEY,
  last_seq BIGINT UNSIGNED NOT NULL,
  owner CHAR(36) NULL,
  owner_at VARCHAR(255) NULL,
  journal_id CHAR(36) NULL,
  journal_at VARCHAR(255) NULL,
  stream_uid CHAR(36) NULL,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;
-- A database made before those columns existed (MariaDB syntax, as the lab runs MariaDB).
ALTER TABLE queue_offsets
  ADD COLUMN IF NOT EXISTS owner CHAR(36) NULL AFTER last_seq,
  ADD COLUMN IF NOT EXISTS owner_at VARCHAR(255) NULL AFTER owner,
  ADD COLUMN IF NOT EXISTS journal_id CHAR(36) NULL AFTER owner_at,
  ADD COLUMN IF NOT EXISTS journal_at VARCHAR(255) NULL AFTER journal_id,
  ADD COLUMN IF NOT EXISTS stream_uid CHAR(36) NULL AFTER journal_at;

-- Statements that MySQL rejected, isolated so that they never block the queue.
CREATE TABLE IF NOT EXISTS dead_letters (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  stream VARCHAR(64) NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  statement MEDIUMTEXT NOT NULL,
  errno INT NULL,
  error TEXT NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_stream_seq (stream, seq)
) ENGINE=InnoDB;
