select * from runs_hourly
