select * from open_alerts
