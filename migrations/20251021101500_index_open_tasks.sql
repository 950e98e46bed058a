-- schema: no-transaction
-- Built outside a transaction: on a large table a server can build it without holding
-- one long transaction open (on PostgreSQL this is where CONCURRENTLY would go).
CREATE INDEX tasks_by_user_and_state ON tasks (user_id, done);
