select * from table_downstream
