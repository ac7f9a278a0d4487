//! Optional equality filters of a list query written only when they apply: a condition such
//! as `($1 = '' OR account_id = $1)` keeps SQLite (and PostgreSQL's generic plans) from using
//! the index on the column, so a customer's page would scan the whole table.

/// `WHERE a = $1 AND b = $2` for the filters given (an empty or absent value is no filter),
/// the values to bind in that order, and the next free placeholder number.
pub fn eq_filters<'a>(filters: &[(&str, Option<&'a str>)]) -> (String, Vec<&'a str>, usize) {
    let mut conds = Vec::new();
    let mut vals = Vec::new();
    for (col, v) in filters {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            vals.push(v);
            conds.push(format!("{col} = ${}", vals.len()));
        }
    }
    let sql = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let next = vals.len() + 1;
    (sql, vals, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_filters_given() {
        let (sql, vals, next) = eq_filters(&[("a", Some("x")), ("b", None), ("c", Some(""))]);
        assert_eq!((sql.as_str(), vals, next), ("WHERE a = $1", vec!["x"], 2));
        let (sql, vals, next) = eq_filters(&[("a", None)]);
        assert_eq!((sql.as_str(), vals.len(), next), ("", 0, 1));
        let (sql, _, next) = eq_filters(&[("a", Some("x")), ("b", Some("y"))]);
        assert_eq!((sql.as_str(), next), ("WHERE a = $1 AND b = $2", 3));
    }
}
