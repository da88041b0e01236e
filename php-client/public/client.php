<?php
// The seed's request, made real: one 8001 enqueue per HTTP request through the PHP client library.
// 200 "ok" when the queue acknowledged with 8001 success, 503 "err CODE" otherwise. The body stays a few
// bytes, like the seed's page, so bytes/sec compares with 2013. ESERVER_QUEUE_HOST/PORT come from the
// php-fpm pool (php-fpm.conf env[]).
require __DIR__ . '/../lib/eserver_client.php';

$r = eserver_insert_queue('insert into bench_events (num) values (%d)', [
    'host' => getenv('ESERVER_QUEUE_HOST') ?: '127.0.0.1',
    'port' => (int) (getenv('ESERVER_QUEUE_PORT') ?: 8888),
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
