<?php
// client.php through the library's persistent mode: each php-fpm child keeps its queue connection open
// across requests, so this page shows what connection reuse buys.
require __DIR__ . '/../lib/enqueue_page.php';
eserver_enqueue_page(true);
