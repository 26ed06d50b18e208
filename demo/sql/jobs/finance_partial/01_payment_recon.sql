-- Two scratch tables that feed each other (a lineage cycle): closures over the lineage must terminate.
INSERT INTO scratch.payment_recon_a (payment_id, amount)
SELECT b.payment_id, b.amount FROM scratch.payment_recon_b AS b;

INSERT INTO scratch.payment_recon_b (payment_id, amount)
SELECT a.payment_id, a.amount FROM scratch.payment_recon_a AS a WHERE a.amount > 0;
