-- Tasks may have a day they are due; existing tasks have none.
ALTER TABLE tasks ADD COLUMN due_on DATE;
