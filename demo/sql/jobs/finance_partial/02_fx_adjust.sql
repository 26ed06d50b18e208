-- A statement SQLFlow cannot parse: the job ends as partial_success and the export carries a SyntaxError.
INSERT INTO scratch.fx_adjusted (payment_id, amount)
SELEC a.payment_id, a.amount * 1.1 FROM scratch.payment_recon_a AS a;
