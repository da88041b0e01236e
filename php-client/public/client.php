<?php
// The seed's request, made real: one 8001 enqueue per HTTP request, a new queue connection each time.
require __DIR__ . '/../lib/enqueue_page.php';
eserver_enqueue_page(false);
