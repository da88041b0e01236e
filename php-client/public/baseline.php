<?php
// What nginx + PHP alone cost: the same page as client.php, minus the queue call, and the same body.
$body = 'ok';
header('Content-Length: ' . strlen($body));
echo $body;
