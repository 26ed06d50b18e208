select * from recent_failures
