select * from runs_daily
