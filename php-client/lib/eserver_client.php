<?php
/**
 * Client for the eserver queue protocol: frames of `uint16 BE cmd | uint16 BE len | len bytes of JSON`.
 *
 * eserver_insert_queue() does what the seed's insert_queue() did (connect, send one 8001 frame, read the
 * 4-byte header, read the body, close), but with connect/read timeouts, and it never returns a bare
 * false: every call returns an array
 *     ['ok' => bool, 'cmd' => ?int, 'code' => ?string, 'msg' => ?string, 'body' => mixed]
 * where `code` is the server's error code (QUEUE_FULL, SQL_REFUSED, ...) or a client-side one:
 * CONNECT_FAILED, WRITE_FAILED, READ_TIMEOUT, CONNECTION_CLOSED, BAD_REPLY, BAD_REQUEST.
 *
 * Opt-in persistent mode ('persistent' => true) keeps one connection per php-fpm child (pfsockopen) and
 * reconnects once when the reused connection turns out to be closed (the server sheds idle ones), but only
 * when no byte of the request was sent: a request that left whole may have been enqueued, and sending it
 * again could enqueue it twice. Then the call fails with CONNECTION_CLOSED (or READ_TIMEOUT) and says so.
 * Only PHP's built-in stream socket functions are used.
 */

const ESERVER_CMD_ENQUEUE = 8001;
const ESERVER_CMD_DEQUEUE = 8002;
const ESERVER_CMD_LENGTH = 8003;
const ESERVER_CMD_ERROR = 9000;

/** Defaults; any of them can be overridden per call. */
function eserver_default_options(): array
{
    return [
        'host' => '127.0.0.1',
        'port' => 8888,
        'connect_timeout' => 1.0, // seconds
        'read_timeout' => 2.0,    // seconds, for the whole reply
        'persistent' => false,
    ];
}

function eserver_result(bool $ok, ?int $cmd, ?string $code, ?string $msg, $body = null): array
{
    return ['ok' => $ok, 'cmd' => $cmd, 'code' => $code, 'msg' => $msg, 'body' => $body];
}

/** Enqueues one statement with a single %d (the server puts its sequence number there). */
function eserver_insert_queue(string $sql, array $options = []): array
{
    return eserver_request(ESERVER_CMD_ENQUEUE, ['sql' => $sql], $options);
}

/** Queue length (8003). On success 'body' holds the number. */
function eserver_queue_length(array $options = []): array
{
    return eserver_request(ESERVER_CMD_LENGTH, new stdClass(), $options);
}

/** Sends one request frame and reads one reply frame. */
function eserver_request(int $cmd, $payload, array $options = []): array
{
    $o = array_merge(eserver_default_options(), $options);
    $json = json_encode($payload, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    if ($json === false || strlen($json) > 0xffff) {
        return eserver_result(false, null, 'BAD_REQUEST', $json === false ? 'payload is not JSON-encodable' : 'body longer than 65535 bytes');
    }
    $frame = pack('nn', $cmd, strlen($json)) . $json;

    if (!$o['persistent']) {
        $fp = eserver_connect($o, false, $err);
        if ($fp === false) {
            return $err;
        }
        $r = eserver_exchange($fp, $frame, $o);
        fclose($fp);
        return $r['result'];
    }

    // Persistent: the kept connection may have been closed by the server since the last request (idle
    // timeout, restart). It is probed before use; and when writing fails before any byte of the request
    // was sent, the request is retried once on a fresh connection. Once bytes were sent, the server may
    // have applied the request, so it is never re-sent. A connection in an unknown state is never reused.
    for ($attempt = 0; $attempt < 2; $attempt++) {
        $fp = eserver_connect($o, true, $err);
        if ($fp === false) {
            return $err;
        }
        if (eserver_peer_closed($fp)) {
            fclose($fp); // drops the stale persistent connection; the next pfsockopen opens a new one
            continue;
        }
        $r = eserver_exchange($fp, $frame, $o);
        if ($r['complete']) {
            return $r['result']; // a whole reply (success or server error): the stream is still in sync
        }
        fclose($fp);
        if ($attempt > 0 || $r['sent'] > 0) {
            return $r['result'];
        }
    }
    return eserver_result(false, null, 'CONNECTION_CLOSED', 'persistent connection closed twice in a row');
}

/** @return resource|false */
function eserver_connect(array $o, bool $persistent, ?array &$err)
{
    $errno = 0;
    $errstr = '';
    $timeout = (float) $o['connect_timeout'];
    $fp = $persistent
        ? @pfsockopen($o['host'], (int) $o['port'], $errno, $errstr, $timeout)
        : @fsockopen($o['host'], (int) $o['port'], $errno, $errstr, $timeout);
    if ($fp === false) {
        $err = eserver_result(false, null, 'CONNECT_FAILED', "connect to {$o['host']}:{$o['port']} failed: [$errno] $errstr");
        return false;
    }
    $err = null;
    $rt = (float) $o['read_timeout'];
    stream_set_timeout($fp, (int) floor($rt), (int) (($rt - floor($rt)) * 1e6));
    return $fp;
}

/** True when the server has closed the connection (EOF readable without blocking). */
function eserver_peer_closed($fp): bool
{
    $r = [$fp];
    $w = null;
    $e = null;
    $n = @stream_select($r, $w, $e, 0, 0);
    if ($n === false) {
        return true;
    }
    if ($n === 0) {
        return false; // nothing to read: open and idle, as expected between requests
    }
    // Readable while we owe nothing: either EOF, or stray bytes. Both mean: do not reuse.
    return true;
}

/** Writes one frame and reads one reply frame. */
function eserver_exchange($fp, string $frame, array $o): array
{
    $len = strlen($frame);
    for ($off = 0; $off < $len;) {
        $n = @fwrite($fp, substr($frame, $off));
        if ($n === false || $n === 0) {
            return ['complete' => false, 'sent' => $off, 'result' => eserver_result(false, null, 'WRITE_FAILED', "could not send the request ($off of $len bytes sent)")];
        }
        $off += $n;
    }
    $deadline = microtime(true) + (float) $o['read_timeout'];
    $head = eserver_read_exact($fp, 4, $deadline, $status);
    if ($head === null) {
        $msg = $status['msg'] . ' (reading the reply header)';
        if ($status['got'] === 0) {
            $msg .= ' after the whole request was sent: the server may have applied it (an 8001 may have been enqueued), so it was not sent again';
        }
        return ['complete' => false, 'sent' => $len, 'result' => eserver_result(false, null, $status['code'], $msg)];
    }
    $h = unpack('ncmd/nlen', $head);
    $cmd = (int) $h['cmd'];
    $body = $h['len'] > 0 ? eserver_read_exact($fp, (int) $h['len'], $deadline, $status) : '';
    if ($body === null) {
        return ['complete' => false, 'sent' => $len, 'result' => eserver_result(false, $cmd, $status['code'], $status['msg'] . ' (reading the reply body)')];
    }
    $decoded = json_decode($body, true);
    if ($body !== '' && $decoded === null && json_last_error() !== JSON_ERROR_NONE) {
        return ['complete' => false, 'sent' => $len, 'result' => eserver_result(false, $cmd, 'BAD_REPLY', 'reply body is not JSON')];
    }
    if ($cmd === ESERVER_CMD_ERROR) {
        $code = is_array($decoded) && isset($decoded['code']) ? (string) $decoded['code'] : 'BAD_REPLY';
        $msg = is_array($decoded) && isset($decoded['msg']) ? (string) $decoded['msg'] : $body;
        return ['complete' => true, 'sent' => $len, 'result' => eserver_result(false, $cmd, $code, $msg, $decoded)];
    }
    $msg = is_array($decoded) && isset($decoded['msg']) ? (string) $decoded['msg'] : null;
    return ['complete' => true, 'sent' => $len, 'result' => eserver_result(true, $cmd, null, $msg, $decoded)];
}

/** Reads exactly $n bytes before $deadline; null on timeout/EOF with $status describing why. */
function eserver_read_exact($fp, int $n, float $deadline, ?array &$status): ?string
{
    $buf = '';
    $status = ['got' => 0, 'code' => null, 'msg' => null];
    while (strlen($buf) < $n) {
        $left = $deadline - microtime(true);
        if ($left <= 0) {
            $status = ['got' => strlen($buf), 'code' => 'READ_TIMEOUT', 'msg' => 'no reply within the read timeout'];
            return null;
        }
        stream_set_timeout($fp, (int) floor($left), (int) (($left - floor($left)) * 1e6));
        $chunk = @fread($fp, $n - strlen($buf));
        if ($chunk === false || $chunk === '') {
            $meta = stream_get_meta_data($fp);
            if (!empty($meta['timed_out'])) {
                $status = ['got' => strlen($buf), 'code' => 'READ_TIMEOUT', 'msg' => 'no reply within the read timeout'];
            } else {
                $status = ['got' => strlen($buf), 'code' => 'CONNECTION_CLOSED', 'msg' => 'server closed the connection'];
            }
            return null;
        }
        $buf .= $chunk;
    }
    return $buf;
}
