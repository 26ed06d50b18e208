-- Lifetime value per customer, through a CTE (an extra intermediate select list).
CREATE TABLE analytics.customer_ltv AS
WITH per_customer AS (
    SELECT e.customer_id, e.customer_name,
           MIN(e.order_date) AS first_order_date, MAX(e.order_date) AS last_order_date,
           COUNT(DISTINCT e.order_id) AS orders, SUM(e.amount) AS lifetime_value
    FROM staging.orders_enriched AS e
    GROUP BY e.customer_id, e.customer_name
)
SELECT customer_id, customer_name, first_order_date, last_order_date, orders, lifetime_value
FROM per_customer
WHERE orders > 0;
