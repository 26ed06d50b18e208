-- A failed job (status fail). A correct client never exports its lineage; if one does, the edge
-- raw.orders -> scratch.broken_upload_target shows up in the warehouse.
INSERT INTO scratch.broken_upload_target (order_id)
SELECT o.order_id FROM raw.orders AS o;

MERGE INTO staging.orders_enriched USING ((( raw.orders;
