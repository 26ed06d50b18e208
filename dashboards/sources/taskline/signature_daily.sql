select * from signature_daily
