<?php
// The body of the lab's enqueue pages (client.php, client_persistent.php): one 8001 enqueue of the seed's
// statement per HTTP request. 200 "ok" when the queue acknowledged with 8001 success, 503 "err CODE"
// otherwise. The body stays a few bytes, like the seed's page, so bytes/sec compares with 2013.
// ESERVER_QUEUE_HOST/PORT come from the php-fpm pool (php-fpm.conf env[]).
require_once __DIR__ . '/eserver_client.php';

function eserver_enqueue_page(bool $persistent): void
{
    $r = eserver_insert_queue('insert into bench_events (num) values (%d)', [
        'host' => getenv('ESERVER_QUEUE_HOST') ?: '127.0.0.1',
        'port' => (int) (getenv('ESERVER_QUEUE_PORT') ?: 8888),
        'persistent' => $persistent,
    ]);
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
