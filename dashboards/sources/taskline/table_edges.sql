select * from table_edges
