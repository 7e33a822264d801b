-- The example's source table, in PostgreSQL's database `test`:
--   psql -h 127.0.0.1 -U postgres test -f examples/sql/setup.sql
DROP TABLE IF EXISTS shop_orders;
CREATE TABLE shop_orders (
    id         bigserial PRIMARY KEY,
    customer   text NOT NULL,
    amount     numeric(20, 2) NOT NULL,
    placed_at  timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO shop_orders (customer, amount)
SELECT 'customer ' || g, round((g * 17.31)::numeric, 2) FROM generate_series(1, 1000) g;
