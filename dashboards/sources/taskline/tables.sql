select * from tables
