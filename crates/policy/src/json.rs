//! A strict JSON reader (RFC 8259) that knows where it is.
//!
//! Case files are read into a small borrowed tree first and validated second, so that a
//! problem can always be reported with its JSON path (`request.data.categories[1]`),
//! numbers that overflow a 64-bit float are caught where they stand, and every problem
//! in a file is reported at once. The reader has hard limits (size, depth) and never
//! panics or recurses without bound, whatever the bytes.

use std::borrow::Cow;
use std::fmt;

/// The largest input accepted, in bytes. Case files are a few kilobytes.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;
/// The deepest nesting accepted. The case schema needs five levels.
pub const MAX_DEPTH: usize = 64;

/// A JSON value borrowing from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, with its text and its nearest 64-bit float (infinite when it overflows).
    Number(Number<'a>),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object, members in input order (duplicate keys are rejected when reading).
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// A JSON number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number<'a> {
    /// The number as written.
    pub text: &'a str,
    /// Its value as the nearest 64-bit float; infinite when it does not fit.
    pub value: f64,
}

impl Value<'_> {
    /// "a string", "an object", ... for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// An object member.
    Key(&'a str),
    /// An array item.
    Index(usize),
}

/// A JSON path, kept as a chain on the stack and rendered only when a problem is found:
/// keys joined by dots, items as `[index]`, the whole input as `(root)`.
#[derive(Debug, Clone, Copy)]
pub struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    step: Option<Step<'p>>,
}

impl<'p> Path<'p> {
    /// The whole input.
    pub const ROOT: Path<'static> = Path { parent: None, step: None };

    /// The member `key` of the value at this path.
    pub fn key<'q>(&'q self, key: &'q str) -> Path<'q> {
        Path { parent: Some(self), step: Some(Step::Key(key)) }
    }

    /// The item `index` of the array at this path.
    pub fn index<'q>(&'q self, index: usize) -> Path<'q> {
        Path { parent: Some(self), step: Some(Step::Index(index)) }
    }

    fn steps(&self, out: &mut Vec<Step<'p>>) {
        if let Some(parent) = self.parent {
            parent.steps(out);
        }
        if let Some(step) = self.step {
            out.push(step);
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut steps = Vec::new();
        self.steps(&mut steps);
        if steps.is_empty() {
            return f.write_str("(root)");
        }
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    // A key that would make the path ambiguous or invisible is quoted.
                    let plain = !k.is_empty()
                        && !k.contains(|c: char| {
                            c == '.' || c == '[' || c == ']' || c == '"' || c.is_whitespace() || c.is_control()
                        });
                    if plain { f.write_str(k)? } else { write!(f, "\"{}\"", k.escape_debug())? }
                }
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem with the input, at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The JSON path (`request.offence.max_penalty_years`, `(root)`).
    pub path: String,
    /// What is wrong (`expected a number`).
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: &Path<'_>, message: impl Into<String>) -> Problem {
        Problem { path: path.to_string(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Reads one JSON document from `input`. The only error is the first syntax problem, as
/// nothing after it can be trusted.
pub fn parse(input: &[u8]) -> Result<Value<'_>, Problem> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(Problem {
            path: "(root)".into(),
            message: format!(
                "input is {} bytes, more than the limit of {} bytes for a case file",
                input.len(),
                MAX_INPUT_BYTES
            ),
        });
    }
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = position(&input[..e.valid_up_to()]);
            return Err(Problem {
                path: "(root)".into(),
                message: format!(
                    "input is not UTF-8 text: invalid byte at line {line}, column {column} (offset {})",
                    e.valid_up_to()
                ),
            });
        }
    };
    // RFC 8259 §8.1 lets a reader ignore a byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader { text, bytes: text.as_bytes(), pos: 0 };
    reader.skip_ws();
    if reader.pos == reader.bytes.len() {
        return Err(Problem { path: "(root)".into(), message: "empty input: expected a JSON object".into() });
    }
    let value = reader.value(&Path::ROOT, 0)?;
    reader.skip_ws();
    if reader.pos != reader.bytes.len() {
        return Err(reader.error(&Path::ROOT, "unexpected characters after the JSON document"));
    }
    Ok(value)
}

fn position(consumed: &[u8]) -> (usize, usize) {
    let line = consumed.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = consumed.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&consumed[line_start..]).chars().count() + 1;
    (line, column)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, path: &Path<'_>, what: &str) -> Problem {
        let (line, column) = position(&self.bytes[..self.pos.min(self.bytes.len())]);
        let message = if self.pos >= self.bytes.len() {
            format!("invalid JSON: unexpected end of input at line {line}, column {column} (truncated?): {what}")
        } else {
            format!("invalid JSON at line {line}, column {column}: {what}")
        };
        Problem::new(path, message)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self, path: &Path<'_>, depth: usize) -> Result<Value<'a>, Problem> {
        match self.bytes.get(self.pos) {
            Some(b'{') => self.object(path, depth + 1),
            Some(b'[') => self.array(path, depth + 1),
            Some(b'"') => self.string(path).map(Value::String),
            Some(b't') => self.literal(path, "true", Value::Bool(true)),
            Some(b'f') => self.literal(path, "false", Value::Bool(false)),
            Some(b'n') => self.literal(path, "null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(path),
            Some(_) => Err(self.error(path, "expected a value (object, array, string, number, true, false or null)")),
            None => Err(self.error(path, "expected a value")),
        }
    }

    fn literal(&mut self, path: &Path<'_>, word: &str, v: Value<'a>) -> Result<Value<'a>, Problem> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error(path, "expected a value (object, array, string, number, true, false or null)"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self, path: &Path<'_>) -> Result<Value<'a>, Problem> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error(path, "invalid number")),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error(path, "invalid number: expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(path, "invalid number: expected a digit in the exponent"));
            }
        }
        let text = &self.text[start..self.pos];
        // The grammar above is a subset of what f64's parser accepts; overflow gives inf.
        let value = text.parse::<f64>().unwrap_or(f64::NAN);
        Ok(Value::Number(Number { text, value }))
    }

    fn hex4(&mut self, path: &Path<'_>) -> Result<u32, Problem> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.bytes.get(self.pos) {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.error(path, "invalid \\u escape: expected four hex digits")),
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self, path: &Path<'_>) -> Result<Cow<'a, str>, Problem> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast path: no escapes.
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(c) if *c < 0x20 => {
                    return Err(self.error(path, "control character in a string (it must be escaped)"));
                }
                Some(_) => self.pos += 1,
                None => return Err(self.error(path, "unterminated string")),
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.bytes.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4(path)?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.bytes[self.pos..].starts_with(b"\\u") {
                                    return Err(self.error(
                                        path,
                                        "invalid \\u escape: a high surrogate must be followed by a low surrogate",
                                    ));
                                }
                                self.pos += 2;
                                let lo = self.hex4(path)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error(path, "invalid \\u escape: expected a low surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(c) => {
                                    out.push(c);
                                    continue;
                                }
                                None => {
                                    return Err(self.error(path, "invalid \\u escape: a lone low surrogate"));
                                }
                            }
                        }
                        _ => return Err(self.error(path, "invalid escape in a string")),
                    };
                    out.push(c);
                    self.pos += 1;
                }
                Some(c) if *c < 0x20 => {
                    return Err(self.error(path, "control character in a string (it must be escaped)"));
                }
                Some(_) => {
                    let run_start = self.pos;
                    while let Some(&c) = self.bytes.get(self.pos) {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.push_str(&self.text[run_start..self.pos]);
                }
                None => return Err(self.error(path, "unterminated string")),
            }
        }
    }

    fn check_depth(&self, path: &Path<'_>, depth: usize) -> Result<(), Problem> {
        if depth > MAX_DEPTH {
            Err(Problem::new(path, format!("nested deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn array(&mut self, path: &Path<'_>, depth: usize) -> Result<Value<'a>, Problem> {
        self.check_depth(path, depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            let item_path = path.index(items.len());
            items.push(self.value(&item_path, depth)?);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error(&item_path, "expected ',' or ']' after an array item")),
            }
        }
    }

    fn object(&mut self, path: &Path<'_>, depth: usize) -> Result<Value<'a>, Problem> {
        self.check_depth(path, depth)?;
        self.pos += 1;
        let mut members: Vec<(Cow<'a, str>, Value<'a>)> = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error(path, "expected a member name in double quotes"));
            }
            let key = self.string(path)?;
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.error(&path.key(&key), "expected ':' after a member name"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(&path.key(&key), depth)?;
            members.push((key, value));
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    let last = &members[members.len() - 1].0;
                    return Err(self.error(&path.key(last), "expected ',' or '}' after an object member"));
                }
            }
        }
        // Duplicate member names make the meaning depend on the reader: refuse them.
        if members.len() <= 16 {
            for (i, (key, _)) in members.iter().enumerate().skip(1) {
                if members[..i].iter().any(|(k, _)| k == key) {
                    return Err(Problem::new(&path.key(key), "duplicate member name"));
                }
            }
            return Ok(Value::Object(members));
        }
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by(|&a, &b| members[a].0.cmp(&members[b].0).then(a.cmp(&b)));
        for w in order.windows(2) {
            if members[w[0]].0 == members[w[1]].0 {
                let key = &members[w[1]].0;
                return Err(Problem::new(&path.key(key), "duplicate member name"));
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> String {
        parse(input.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn reads_values() {
        let v = parse(br#" {"a": [1, -2.5e3, true, null, "x\u00e9\ud83d\ude00\n"], "b": {}} "#).unwrap();
        let Value::Object(m) = v else { panic!("object") };
        assert_eq!(m[0].0, "a");
        let Value::Array(items) = &m[0].1 else { panic!("array") };
        assert_eq!(items[1], Value::Number(Number { text: "-2.5e3", value: -2500.0 }));
        assert_eq!(items[4], Value::String("xé😀\n".into()));
    }

    #[test]
    fn paths_in_errors() {
        assert_eq!(
            err(r#"{"request": {"offence": {"x": 1,}}}"#),
            "request.offence: invalid JSON at line 1, column 33: expected a member name in double quotes"
        );
        assert!(err(r#"{"a": [1, 2"#).starts_with("a[1]: invalid JSON: unexpected end of input"));
        assert!(err(r#"{"a": 1 "b": 2}"#).starts_with("a: invalid JSON at line 1, column 9"));
        assert_eq!(err(r#"{"a": 1, "a": 2}"#), "a: duplicate member name");
        assert_eq!(
            err(r#"{"": {"b.c": [1, }}"#),
            "\"\".\"b.c\"[1]: invalid JSON at line 1, column 18: expected a value (object, array, string, number, true, false or null)"
        );
        assert!(err("").contains("empty input"));
        assert!(err("{} x").starts_with("(root): invalid JSON"));
        assert!(err(r#"{"a": "\ud800"}"#).starts_with("a: invalid JSON"));
        assert!(err(r#"{"a": 01}"#).starts_with("a: invalid JSON"));
        assert!(err(r#"{"a": 1.}"#).starts_with("a: invalid JSON"));
        assert!(err("{\"a\": \"\t\"}").contains("control character"));
    }

    #[test]
    fn limits() {
        let deep = "[".repeat(100_000);
        assert!(err(&deep).contains("nested deeper than 64 levels"));
        assert!(parse(&[b'{', 0xff, b'}']).unwrap_err().message.contains("not UTF-8"));
        let big = vec![b' '; MAX_INPUT_BYTES + 1];
        assert!(parse(&big).unwrap_err().message.contains("more than the limit"));
        let Value::Number(n) = parse(b"1e400").unwrap() else { panic!("number") };
        assert!(n.value.is_infinite());
    }
}
