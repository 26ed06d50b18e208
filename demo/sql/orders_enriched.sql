-- Orders joined with their customer: one row per order that was not cancelled.
INSERT INTO staging.orders_enriched (order_id, customer_id, customer_name, country, order_date, status, amount)
SELECT o.order_id, o.customer_id, c.name, c.country, o.order_date, o.status, o.amount
FROM raw.orders AS o
JOIN raw.customers AS c ON c.customer_id = o.customer_id
WHERE o.status <> 'cancelled';
