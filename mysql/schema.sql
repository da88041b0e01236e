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

-- The highest queue sequence number applied, committed in the same transaction as the batch.
CREATE TABLE IF NOT EXISTS queue_offsets (
  stream VARCHAR(64) NOT NULL PRIMARY KEY,
  last_seq BIGINT UNSIGNED NOT NULL,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

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
