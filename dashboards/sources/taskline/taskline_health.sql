select * from taskline_health
