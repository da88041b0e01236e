<?php
// The body of the lab's enqueue pages (client.php, client_persistent.php): one 8001 enqueue of the seed's
// statement per HTTP request. 200 "ok" when the queue acknowledged with 8001 success, 503 "err CODE"
// otherwise. The body stays a few bytes, like the seed's page, so bytes/sec compares with 2013.
// ESERVER_QUEUE_HOST/PORT come from the php-fpm pool (php-fpm.conf env[], rendered from the lab's stack spec,
// common/src/stack-spec.ts): the page has no default of its own, so it can never talk to another queue.
require_once __DIR__ . '/eserver_client.php';

function eserver_enqueue_page(bool $persistent): void
{
    $host = getenv('ESERVER_QUEUE_HOST');
    $port = getenv('ESERVER_QUEUE_PORT');
    if ($host === false || $host === '' || $port === false || !ctype_digit($port)) {
        error_log('enqueue page: ESERVER_QUEUE_HOST/ESERVER_QUEUE_PORT are not set; php-fpm.conf sets them (env[]) from the lab\'s stack');
        $r = eserver_result(false, null, 'NO_QUEUE_PORT', 'ESERVER_QUEUE_HOST/ESERVER_QUEUE_PORT not set');
    } else {
        $r = eserver_insert_queue('insert into bench_events (num) values (%d)', [
            'host' => $host,
            'port' => (int) $port,
            'persistent' => $persistent,
        ]);
    }
    if ($r['ok'] && $r['cmd'] === ESERVER_CMD_ENQUEUE) {
        $body = 'ok';
    } else {
        http_response_code(503);
        $body = 'err ' . ($r['code'] ?? 'BAD_REPLY');
    }
    // A Content-Length spares keep-alive clients the chunked framing; HTTP/1.0 clients get a close anyway.
    header('Content-Length: ' . strlen($body));
    echo $body;
}
