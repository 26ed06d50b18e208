-- The executive dashboard view. `lifetime_value` is unqualified in a two-table join, so SQLFlow
-- warns (orphan column) and links it to the first table: the response is code 203.
CREATE VIEW reporting.exec_dashboard AS
SELECT d.revenue_date, d.country, d.revenue, d.paid_amount,
       l.customer_name AS top_customer, lifetime_value AS top_customer_ltv
FROM analytics.daily_revenue AS d
JOIN analytics.customer_ltv AS l ON l.last_order_date = d.revenue_date;
