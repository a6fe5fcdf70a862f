/**
 * @module test/postgres/fixture
 * A database with the kinds of objects a PostgreSQL restore gets wrong when it is careless:
 * jsonb, bytea, arrays, enums, ranges, numeric, identity columns and sequences advanced past
 * their rows, a partitioned table, views, a function and a trigger, large objects, several
 * schemas, and non-ASCII text.
 */
export const FIXTURE_SQL = `
CREATE SCHEMA sales;
CREATE SCHEMA "Odd Schema";
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.customers (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  profile jsonb,
  avatar bytea,
  tags text[],
  feeling mood,
  stay daterange,
  balance numeric(20, 6),
  created timestamptz DEFAULT '2024-01-02 03:04:05+00'
);
CREATE TABLE sales.orders (
  id bigserial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES public.customers (id),
  amount numeric NOT NULL CHECK (amount >= 0),
  note text
);
CREATE INDEX orders_customer ON sales.orders (customer_id);
CREATE TABLE sales.audit (id serial PRIMARY KEY, order_id bigint, what text);
CREATE FUNCTION sales.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sales.audit (order_id, what) VALUES (NEW.id, 'new order ' || NEW.amount);
  RETURN NEW;
END $$;
CREATE TRIGGER orders_log AFTER INSERT ON sales.orders FOR EACH ROW EXECUTE FUNCTION sales.log_order();
CREATE TABLE public.events (id bigint NOT NULL, at date NOT NULL, payload text) PARTITION BY RANGE (at);
CREATE TABLE public.events_2023 PARTITION OF public.events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE VIEW sales.big_orders AS SELECT o.id, c.name, o.amount FROM sales.orders o JOIN public.customers c ON c.id = o.customer_id WHERE o.amount > 100;
CREATE MATERIALIZED VIEW sales.totals AS SELECT customer_id, sum(amount) AS total FROM sales.orders GROUP BY customer_id;
CREATE TABLE "Odd Schema"."Mixed Case Table" ("Weird ""col""" text, n int);
CREATE TABLE public.docs (id serial PRIMARY KEY, title text, body oid);

INSERT INTO public.customers (name, profile, avatar, tags, feeling, stay, balance) VALUES
  ('Zoë Ångström', '{"lang": "sv", "nested": {"a": [1, 2, {"b": null}]}}', '\\x00ff10', '{a,"b c",NULL}', 'happy', '[2024-01-01,2024-02-01)', 12345678901234.123456),
  ('山田 太郎', '{"lang": "ja"}', '\\x', '{}', 'ok', 'empty', -0.000001),
  ('O''Brien; DROP TABLE x; --', NULL, NULL, NULL, NULL, NULL, NULL),
  ('emoji 🚣‍♀️', '[]', decode(repeat('ab', 5000), 'hex'), '{"x\\"y"}', 'sad', '(,)', 0);
INSERT INTO public.customers (name, balance) SELECT 'customer ' || g, g * 1.5 FROM generate_series(1, 500) g;
INSERT INTO sales.orders (customer_id, amount, note) SELECT 1 + (g % 500), (g % 250) * 1.25, CASE WHEN g % 7 = 0 THEN E'multi\\nline\\ttab' END FROM generate_series(1, 2000) g;
INSERT INTO public.events SELECT g, DATE '2023-06-01' + (g % 400), 'event ' || g FROM generate_series(1, 1000) g;
INSERT INTO "Odd Schema"."Mixed Case Table" VALUES ('ä "quoted"', 1), (NULL, 2);
SELECT setval('sales.orders_id_seq', 5000);
REFRESH MATERIALIZED VIEW sales.totals;
INSERT INTO public.docs (title, body) VALUES ('first', lo_from_bytea(0, 'hello large object'::bytea)), ('second', lo_from_bytea(0, decode(repeat('00ff', 70000), 'hex')));
COMMENT ON TABLE sales.orders IS 'orders, with a trigger';
`;
