-- Development data: two people to own the demo tasks.
INSERT INTO users (id, email, display_name) VALUES
    (1, 'ada@example.com', 'Ada'),
    (2, 'grace@example.com', 'Grace');
