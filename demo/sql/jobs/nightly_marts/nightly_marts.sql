-- The nightly rebuild of the staging table and the two marts, in one file.
TRUNCATE staging.orders_enriched;

INSERT INTO staging.orders_enriched (order_id, customer_id, customer_name, country, order_date, status, amount)
SELECT o.order_id, o.customer_id, c.name, c.country, o.order_date, o.status, o.amount
FROM raw.orders AS o
JOIN raw.customers AS c ON c.customer_id = o.customer_id
WHERE o.status <> 'cancelled';

INSERT INTO analytics.daily_revenue (revenue_date, country, orders, revenue, paid_amount)
SELECT e.order_date, e.country, COUNT(DISTINCT e.order_id), SUM(e.amount), SUM(p.amount)
FROM staging.orders_enriched AS e
LEFT JOIN raw.payments AS p ON p.order_id = e.order_id AND p.currency <> 'XXX'
GROUP BY e.order_date, e.country;

DROP TABLE IF EXISTS analytics.customer_ltv;

CREATE TABLE analytics.customer_ltv AS
SELECT t.customer_id, t.customer_name, t.first_order_date, t.last_order_date, t.orders, t.lifetime_value
FROM (
    SELECT e.customer_id, e.customer_name,
           MIN(e.order_date) AS first_order_date, MAX(e.order_date) AS last_order_date,
           COUNT(DISTINCT e.order_id) AS orders, SUM(e.amount) AS lifetime_value
    FROM staging.orders_enriched AS e
    GROUP BY e.customer_id, e.customer_name
) AS t;
