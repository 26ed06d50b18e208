-- Revenue per day and country; payments in the bogus currency 'XXX' are ignored.
INSERT INTO analytics.daily_revenue (revenue_date, country, orders, revenue, paid_amount)
SELECT e.order_date, e.country, COUNT(DISTINCT e.order_id), SUM(e.amount), SUM(p.amount)
FROM staging.orders_enriched AS e
LEFT JOIN raw.payments AS p ON p.order_id = e.order_id AND p.currency <> 'XXX'
GROUP BY e.order_date, e.country;
