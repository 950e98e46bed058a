CREATE TABLE tags (
    id INTEGER NOT NULL PRIMARY KEY,
    label VARCHAR(64) NOT NULL UNIQUE
);

CREATE TABLE task_tags (
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    tag_id INTEGER NOT NULL REFERENCES tags (id),
    PRIMARY KEY (task_id, tag_id)
);
