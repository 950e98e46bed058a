//! What each backend's catalog says about the schema: one query per dialect, one row
//! per object as `(kind, table, name, definition)` text; `table` is empty for an object
//! of the schema rather than of a table.
//!
//! - SQLite: each table's columns, indexes, foreign keys and CHECKs (taken from its
//!   `CREATE TABLE` text, which is where SQLite keeps them), triggers and views (their
//!   SQL as `sqlite_master` keeps it).
//! - PostgreSQL, in the current schema: each table's columns, indexes, CHECKs, other
//!   constraints, foreign keys and triggers (with whether they are enabled), views and
//!   materialized views (`pg_get_viewdef`), sequences (type, increment, bounds, start,
//!   cache, cycle; never the current value; one that a column owns belongs to its
//!   table), enum types (their values in order), composite types (their attributes),
//!   domains (base type, default, NOT NULL, CHECKs) and range types (their subtype),
//!   functions and procedures by name and argument types (the `md5` of
//!   `pg_get_functiondef`, so a changed body differs), aggregates, and extensions (their
//!   version). The objects an extension brings are the extension's, not each one drift;
//!   those a type made for itself (a range's constructors) are left out too.
//! - MySQL/MariaDB, in the current database: each table's columns (the column type
//!   spells out an ENUM's or SET's values), indexes, foreign keys, CHECKs and triggers,
//!   views (with the database's own name taken out of the definition, so that a copy
//!   under another name compares equal), functions and procedures by name and parameter
//!   types (the `md5` of the body, return type and characteristics).

use super::fingerprint::normalise;
use crate::sql_text::Dialect;

/// The kind of a SQLite row whose definition is a table's `CREATE TABLE` text, for
/// [`sqlite_checks`] to read; never an object's kind.
pub(super) const CHECKS_IN: &str = "checks in";

/// The catalog query of `dialect`: one row per object of the current schema, as
/// `(kind, table, name, definition)` text.
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
GROUP BY m.name, f.id \
UNION ALL \
SELECT 'checks in', m.name, '', m.sql FROM sqlite_master m \
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.sql LIKE '%check%' \
UNION ALL \
SELECT s.type, CASE s.type WHEN 'trigger' THEN s.tbl_name ELSE '' END, s.name, s.sql FROM sqlite_master s \
WHERE s.type IN ('view', 'trigger')";

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
SELECT CASE k.contype WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' ELSE 'constraint' END, \
  CAST(t.relname AS TEXT), CAST(k.conname AS TEXT), pg_get_constraintdef(k.oid) \
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p') \
UNION ALL \
SELECT 'trigger', CAST(c.relname AS TEXT), CAST(g.tgname AS TEXT), pg_get_triggerdef(g.oid) \
  || CASE g.tgenabled WHEN 'O' THEN '' WHEN 'D' THEN ' (disabled)' WHEN 'R' THEN ' (enabled on replicas only)' ELSE ' (enabled always)' END \
FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
WHERE n.nspname = current_schema() AND NOT g.tgisinternal \
UNION ALL \
SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'composite type' END, \
  '', CAST(c.relname AS TEXT), \
  CASE WHEN c.relkind = 'c' THEN \
    (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) \
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) \
  ELSE pg_get_viewdef(c.oid) || COALESCE(' WITH (' || array_to_string(c.reloptions, ', ') || ')', '') END \
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm', 'c') \
  AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = CAST('pg_class' AS regclass) AND x.objid = c.oid AND x.deptype = 'e') \
  AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = CAST('pg_type' AS regclass) AND x.objid = c.reltype AND x.deptype = 'e') \
UNION ALL \
SELECT 'sequence', COALESCE(CAST(o.relname AS TEXT), ''), CAST(c.relname AS TEXT), \
  format_type(s.seqtypid, NULL) || ' INCREMENT ' || s.seqincrement || ' MINVALUE ' || s.seqmin \
  || ' MAXVALUE ' || s.seqmax || ' START ' || s.seqstart || ' CACHE ' || s.seqcache \
  || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END \
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_depend d ON d.classid = CAST('pg_class' AS regclass) AND d.objid = c.oid \
  AND d.refclassid = CAST('pg_class' AS regclass) AND d.deptype IN ('a', 'i') \
LEFT JOIN pg_class o ON o.oid = d.refobjid \
WHERE n.nspname = current_schema() \
  AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = CAST('pg_class' AS regclass) AND x.objid = c.oid AND x.deptype = 'e') \
UNION ALL \
SELECT CASE t.typtype WHEN 'e' THEN 'enum type' WHEN 'd' THEN 'domain' ELSE 'range type' END, \
  '', CAST(t.typname AS TEXT), \
  CASE t.typtype \
  WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) \
    FROM pg_enum e WHERE e.enumtypid = t.oid) \
  WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END \
    || COALESCE(' DEFAULT ' || t.typdefault, '') \
    || COALESCE((SELECT ' ' || string_agg('CONSTRAINT ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname) \
      FROM pg_constraint k WHERE k.contypid = t.oid), '') \
  ELSE (SELECT 'subtype ' || format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid) END \
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r') \
  AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = CAST('pg_type' AS regclass) AND x.objid = t.oid AND x.deptype IN ('e', 'i')) \
UNION ALL \
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END, '', \
  CAST(p.proname AS TEXT) || '(' || oidvectortypes(p.proargtypes) || ')', \
  CASE WHEN p.prokind = 'a' THEN \
    (SELECT 'SFUNC ' || CAST(g.aggtransfn AS TEXT) || ' STYPE ' || format_type(g.aggtranstype, NULL) \
      || COALESCE(' FINALFUNC ' || NULLIF(CAST(g.aggfinalfn AS TEXT), '-'), '') \
      || COALESCE(' INITCOND ' || quote_literal(g.agginitval), '') \
     FROM pg_aggregate g WHERE g.aggfnoid = p.oid) \
  ELSE 'md5 ' || md5(pg_get_functiondef(p.oid)) END \
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
WHERE n.nspname = current_schema() \
  AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = CAST('pg_proc' AS regclass) AND x.objid = p.oid AND x.deptype IN ('e', 'i')) \
UNION ALL \
SELECT 'extension', '', CAST(e.extname AS TEXT), 'version ' || e.extversion \
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = current_schema()";

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
GROUP BY k.table_name, k.constraint_name \
UNION ALL \
SELECT CAST('check' AS CHAR), CAST(table_name AS CHAR), CAST(constraint_name AS CHAR), \
  CAST(CONCAT('CHECK (', check_clause, ')') AS CHAR) \
FROM (SELECT DISTINCT t.constraint_schema, t.constraint_name, t.table_name FROM information_schema.table_constraints t \
  WHERE t.table_schema = DATABASE() AND t.constraint_type = 'CHECK') k \
NATURAL JOIN information_schema.check_constraints c WHERE c.constraint_schema = DATABASE() \
UNION ALL \
SELECT CAST('trigger' AS CHAR), CAST(g.event_object_table AS CHAR), CAST(g.trigger_name AS CHAR), \
  CAST(CONCAT(g.action_timing, ' ', g.event_manipulation, ' FOR EACH ', g.action_orientation, ' ', g.action_statement) AS CHAR) \
FROM information_schema.triggers g WHERE g.trigger_schema = DATABASE() \
UNION ALL \
SELECT CAST('view' AS CHAR), CAST('' AS CHAR), CAST(v.table_name AS CHAR), \
  CAST(CONCAT(REPLACE(v.view_definition, CONCAT('`', DATABASE(), '`.'), ''), \
    IF(v.check_option = 'NONE', '', CONCAT(' WITH ', v.check_option, ' CHECK OPTION')), \
    IF(v.security_type = 'INVOKER', ' SQL SECURITY INVOKER', '')) AS CHAR) \
FROM information_schema.views v WHERE v.table_schema = DATABASE() \
UNION ALL \
SELECT CAST(LOWER(r.routine_type) AS CHAR), CAST('' AS CHAR), \
  CAST(CONCAT(r.routine_name, '(', COALESCE(a.parameters, ''), ')') AS CHAR), \
  CAST(CONCAT('md5 ', MD5(CONCAT_WS(' | ', r.dtd_identifier, r.routine_definition, r.is_deterministic, \
    r.sql_data_access, r.security_type))) AS CHAR) \
FROM information_schema.routines r \
LEFT JOIN (SELECT p.specific_name, p.routine_type, \
    GROUP_CONCAT(CONCAT_WS(' ', p.parameter_mode, p.dtd_identifier) ORDER BY p.ordinal_position SEPARATOR ', ') AS parameters \
  FROM information_schema.parameters p WHERE p.specific_schema = DATABASE() AND p.ordinal_position > 0 \
  GROUP BY p.specific_name, p.routine_type) a \
  ON a.specific_name = r.specific_name AND a.routine_type = r.routine_type \
WHERE r.routine_schema = DATABASE()";

/// The CHECKs of a SQLite `CREATE TABLE` statement, as `(name, definition)`: a named
/// one (`CONSTRAINT positive CHECK (amount > 0)`) by its name, any other by its
/// expression in parentheses, whitespace collapsed either way.
pub(super) fn sqlite_checks(sql: &str) -> Vec<(String, String)> {
    let tokens = tokens(sql);
    let word = |i: usize, w: &str| {
        tokens
            .get(i)
            .is_some_and(|t| t.kind == Kind::Word && sql[t.start..t.end].eq_ignore_ascii_case(w))
    };
    let mut checks = Vec::new();
    for i in 0..tokens.len() {
        if !word(i, "CHECK")
            || tokens
                .get(i + 1)
                .is_none_or(|t| &sql[t.start..t.end] != "(")
        {
            continue;
        }
        let mut depth = 0usize;
        let Some(close) = tokens[i + 1..].iter().position(|t| {
            match &sql[t.start..t.end] {
                "(" if t.kind == Kind::Other => depth += 1,
                ")" if t.kind == Kind::Other => depth -= 1,
                _ => {}
            }
            depth == 0
        }) else {
            continue;
        };
        let expression = normalise(&sql[tokens[i + 1].end..tokens[i + 1 + close].start]);
        let name = if i >= 2 && word(i - 2, "CONSTRAINT") {
            unquote(&sql[tokens[i - 1].start..tokens[i - 1].end])
        } else {
            format!("({expression})")
        };
        checks.push((name, format!("CHECK ({expression})")));
    }
    checks
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A keyword or a bare name.
    Word,
    /// A string or a quoted name.
    Quoted,
    /// Anything else: one character.
    Other,
}

struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// SQLite's tokens as far as finding CHECKs needs: words, quoted text (a `CHECK` inside
/// quotes is not one) and single characters; comments and whitespace skipped.
fn tokens(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let kind = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == close && c != b'[' && bytes.get(i + 1) == Some(&close) {
                        i += 2;
                    } else if bytes[i] == close {
                        break;
                    } else {
                        i += 1;
                    }
                }
                i = (i + 1).min(bytes.len());
                Kind::Quoted
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || bytes[i] == b'$'
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Other
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    tokens
}

/// A name as written, without its quotes.
fn unquote(name: &str) -> String {
    let (first, last) = (name.chars().next(), name.chars().last());
    match (first, last) {
        (Some('['), Some(']')) => name[1..name.len() - 1].to_owned(),
        (Some(q @ ('"' | '`' | '\'')), Some(l)) if q == l && name.len() >= 2 => {
            let doubled = format!("{q}{q}");
            name[1..name.len() - 1].replace(&doubled, &q.to_string())
        }
        _ => name.to_owned(),
    }
}
