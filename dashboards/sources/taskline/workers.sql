select * from workers
