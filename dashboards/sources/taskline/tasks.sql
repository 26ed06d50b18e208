select * from tasks
