//! A small CSV record splitter for the snapshot files: comma-separated fields, optionally in
//! double quotes with `""` for a quote inside (RFC 4180), one record per line. The files
//! investigation reads never hold line breaks inside a field, so a record is a line.

/// Splits one line into fields. A quote that opens a field must close it before the next
/// comma or the end of the line; anything else is an error described for the reader.
pub fn split_record(line: &str) -> Result<Vec<String>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(other) => field.push(other),
                    None => return Err("a quoted field is not closed".to_owned()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(other) => {
                    return Err(format!("unexpected {other:?} after a closing quote"));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field".to_owned()),
                    Some(other) => field.push(other),
                }
            }
            fields.push(field);
        }
    }
}

/// Parses a number field; empty means missing. `NaN` spellings count as missing too (pandas
/// writes them for empty buckets); infinities are refused.
pub fn parse_value(field: &str) -> Result<Option<f64>, String> {
    let trimmed = field.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("nan") {
        return Ok(None);
    }
    match trimmed.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        Ok(_) => Err(format!("{trimmed:?} is not a finite number")),
        Err(_) => Err(format!("{trimmed:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_and_quoted_fields_split() {
        assert_eq!(split_record("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            split_record("\"x,y\",\"say \"\"hi\"\"\",z\r").unwrap(),
            ["x,y", "say \"hi\"", "z"]
        );
        assert!(split_record("\"open").is_err());
        assert!(split_record("a\"b").is_err());
        assert!(split_record("\"a\"b").is_err());
    }

    #[test]
    fn values_parse_or_say_why() {
        assert_eq!(parse_value("1.5").unwrap(), Some(1.5));
        assert_eq!(parse_value("").unwrap(), None);
        assert_eq!(parse_value("NaN").unwrap(), None);
        assert!(parse_value("inf").is_err());
        assert!(parse_value("fast").is_err());
    }
}
