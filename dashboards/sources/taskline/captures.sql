select * from captures
