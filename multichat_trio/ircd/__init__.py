"""The IRC listener's trio side: the TCP server, one task per connection, the flusher, the outboxes."""
