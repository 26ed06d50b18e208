select * from queue_backlog
