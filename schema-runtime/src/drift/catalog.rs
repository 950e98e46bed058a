//! What each backend's catalog says about the schema: one query per dialect, one row
//! per object as `(kind, table, name, definition)` text.

use crate::sql_text::Dialect;

/// The catalog query of `dialect`: one row per column, index, constraint and foreign key
/// of every table of the current schema, as `(kind, table, name, definition)` text.
pub(crate) fn query(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
        Dialect::Mysql => MYSQL,
    }
}

const SQLITE: &str = "\
SELECT 'column', m.name, p.name, COALESCE(p.type, '') \
  || CASE WHEN p.\"notnull\" THEN ' NOT NULL' ELSE '' END \
  || COALESCE(' DEFAULT ' || p.dflt_value, '') \
  || CASE WHEN p.pk > 0 THEN ' PRIMARY KEY ' || p.pk ELSE '' END \
FROM sqlite_master m, pragma_table_info(m.name) p \
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
UNION ALL \
SELECT 'index', s.tbl_name, s.name, s.sql FROM sqlite_master s \
WHERE s.type = 'index' AND s.sql IS NOT NULL AND s.tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
UNION ALL \
SELECT 'index', m.name, \
  '(' || (SELECT group_concat(COALESCE(c.name, '?'), ', ') FROM (SELECT name FROM pragma_index_info(i.name) ORDER BY seqno) c) || ')', \
  CASE WHEN i.origin = 'pk' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END \
FROM sqlite_master m, pragma_index_list(m.name) i \
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND i.origin <> 'c' \
UNION ALL \
SELECT 'foreign key', m.name, '(' || group_concat(f.\"from\", ', ') || ')', \
  'REFERENCES ' || f.\"table\" || '(' || group_concat(COALESCE(f.\"to\", '?'), ', ') || ') ON UPDATE ' || f.on_update || ' ON DELETE ' || f.on_delete \
FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
GROUP BY m.name, f.id";

const POSTGRES: &str = "\
SELECT CAST('column' AS TEXT), CAST(c.relname AS TEXT), CAST(a.attname AS TEXT), \
  format_type(a.atttypid, a.atttypmod) \
  || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
  || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') \
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
JOIN pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND a.attnum > 0 AND NOT a.attisdropped \
UNION ALL \
SELECT 'index', CAST(t.relname AS TEXT), CAST(i.relname AS TEXT), \
  CASE WHEN x.indisunique THEN 'UNIQUE ' ELSE '' END || am.amname || ' (' \
  || (SELECT string_agg(COALESCE(CAST(a.attname AS TEXT), '?'), ', ' ORDER BY c.ord) \
      FROM unnest(x.indkey) WITH ORDINALITY c(attnum, ord) \
      LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = c.attnum) || ')' \
  || CASE WHEN CAST(x.indoption AS TEXT) ~ '[1-9]' THEN ' options ' || CAST(x.indoption AS TEXT) ELSE '' END \
  || COALESCE(' ' || pg_get_expr(x.indexprs, x.indrelid), '') \
  || COALESCE(' WHERE ' || pg_get_expr(x.indpred, x.indrelid), '') \
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam \
LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x') \
WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p') AND k.oid IS NULL \
UNION ALL \
SELECT CASE k.contype WHEN 'f' THEN 'foreign key' ELSE 'constraint' END, CAST(t.relname AS TEXT), CAST(k.conname AS TEXT), pg_get_constraintdef(k.oid) \
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p')";

const MYSQL: &str = "\
SELECT CAST('column' AS CHAR), CAST(c.table_name AS CHAR), CAST(c.column_name AS CHAR), \
  CAST(CONCAT(c.column_type, IF(c.is_nullable = 'NO', ' NOT NULL', ''), \
    IF(c.column_default IS NULL, '', CONCAT(' DEFAULT ', c.column_default)), \
    IF(c.extra = '', '', CONCAT(' ', c.extra))) AS CHAR) \
FROM information_schema.columns c \
WHERE c.table_schema = DATABASE() \
  AND c.table_name NOT IN (SELECT v.table_name FROM information_schema.views v WHERE v.table_schema = DATABASE()) \
UNION ALL \
SELECT CAST('index' AS CHAR), CAST(s.table_name AS CHAR), CAST(s.index_name AS CHAR), \
  CAST(CONCAT(IF(MAX(s.non_unique) = 0, 'UNIQUE ', ''), '(', \
    GROUP_CONCAT(COALESCE(s.column_name, '?') ORDER BY s.seq_in_index SEPARATOR ', '), ')') AS CHAR) \
FROM information_schema.statistics s WHERE s.table_schema = DATABASE() \
GROUP BY s.table_name, s.index_name \
UNION ALL \
SELECT CAST('foreign key' AS CHAR), CAST(k.table_name AS CHAR), CAST(k.constraint_name AS CHAR), \
  CAST(CONCAT('(', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') REFERENCES ', \
    MAX(k.referenced_table_name), '(', \
    GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position SEPARATOR ', '), ')') AS CHAR) \
FROM information_schema.key_column_usage k \
WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL \
GROUP BY k.table_name, k.constraint_name";
