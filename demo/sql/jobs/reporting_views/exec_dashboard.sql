-- `lifetime_value` is unqualified in a two-table join: SQLFlow warns (orphan column) and links it to
-- the first table, so the export comes back with code 203 and data.sqlflow.errors[].
CREATE VIEW reporting.exec_dashboard AS
SELECT d.revenue_date, d.country, d.revenue, d.paid_amount,
       l.customer_name AS top_customer, lifetime_value AS top_customer_ltv
FROM analytics.daily_revenue AS d
JOIN analytics.customer_ltv AS l ON l.last_order_date = d.revenue_date;
