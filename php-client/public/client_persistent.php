<?php
// client.php through the library's persistent mode: each php-fpm child keeps its queue connection
// open across requests, so this page shows what connection reuse buys.
require __DIR__ . '/../lib/eserver_client.php';

$r = eserver_insert_queue('insert into bench_events (num) values (%d)', [
    'host' => getenv('ESERVER_QUEUE_HOST') ?: '127.0.0.1',
    'port' => (int) (getenv('ESERVER_QUEUE_PORT') ?: 8888),
    'persistent' => true,
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
