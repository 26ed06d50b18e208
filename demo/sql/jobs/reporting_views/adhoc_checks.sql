-- An ad-hoc query: its result set (RS-n) is not a table and must not become a lineage node.
SELECT r.country, SUM(r.revenue) AS revenue
FROM reporting.exec_dashboard AS r
GROUP BY r.country
UNION ALL
SELECT 'ALL', SUM(r.revenue)
FROM reporting.exec_dashboard AS r;
