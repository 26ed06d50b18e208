select * from task_tables
