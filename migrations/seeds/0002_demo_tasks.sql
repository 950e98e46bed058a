INSERT INTO tasks (id, user_id, title, done, due_on) VALUES
    (1, 1, 'Write the release notes', FALSE, '2025-12-01'),
    (2, 1, 'Review the backup policy', TRUE, NULL),
    (3, 2, 'Try the new migration runner', FALSE, NULL);

INSERT INTO tags (id, label) VALUES (1, 'docs'), (2, 'ops');
INSERT INTO task_tags (task_id, tag_id) VALUES (1, 1), (2, 2);
