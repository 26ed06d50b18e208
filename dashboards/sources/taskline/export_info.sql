select * from export_info
