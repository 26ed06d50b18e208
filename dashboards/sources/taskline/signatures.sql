select * from signatures
